// error_from_response on arbitrary bodies and Retry-After values: never crash, and
// describe() stays one line (it goes straight into the log).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <kle/api/error.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  // Byte 0-1: status; byte 2: length of the Retry-After header taken from the rest.
  const int status = (data[0] << 8 | data[1]) % 1000;
  const std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
  const std::size_t header_len = data[2] < rest.size() ? data[2] : rest.size();
  const kle::api::Error e = kle::api::error_from_response(status, rest.substr(header_len), rest.substr(0, header_len));
  const std::string line = e.describe();
  if (line.find('\n') != std::string::npos || e.retry_after.count() < 0) std::abort();
  return 0;
}
