// parse_micro_time on arbitrary text: whatever parses must format and re-parse to the
// same instant, and the formatted form is always 27 characters ending in 'Z'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <kle/api/microtime.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto t = kle::api::parse_micro_time(text);
  if (!t) return 0;
  const std::string formatted = kle::api::format_micro_time(*t);
  const auto back = kle::api::parse_micro_time(formatted);
  // Offsets can move a year-0000 or year-9999 time outside the 4-digit range; such a
  // time formats with a sign or 5 digits and rightly does not re-parse.
  const auto y = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*t)}.year();
  if (y < std::chrono::year{0} || y > std::chrono::year{9999}) return 0;
  if (!back || *back != *t || formatted.size() != 27 || formatted.back() != 'Z') std::abort();
  return 0;
}
