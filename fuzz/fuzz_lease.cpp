// parse_lease on arbitrary bytes: never crash, and whatever decodes must survive
// lease_to_json -> parse_lease unchanged (what we write we can read back).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <kle/api/lease.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto lease = kle::api::parse_lease(body);
  if (!lease.ok()) return 0;
  const nlohmann::json written = kle::api::lease_to_json(*lease);
  const auto back = kle::api::parse_lease(written.dump());
  if (!back.ok() || !(back->spec == lease->spec) || back->name != lease->name ||
      back->namespace_ != lease->namespace_ || back->resource_version != lease->resource_version) {
    std::abort();
  }
  return 0;
}
