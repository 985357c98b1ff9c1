// parse_pod / parse_pod_list on arbitrary bytes must return a value or an error, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <kle/api/pod.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)kle::api::parse_pod(body);
  (void)kle::api::parse_pod_list(body);
  return 0;
}
