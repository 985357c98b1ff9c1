#include <kle/controller/duration.hpp>

#include <cctype>
#include <cstdint>
#include <limits>

namespace kle::controller {
namespace {

using Status = ParsedDuration::Status;

std::optional<std::int64_t> unit_ms(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return std::nullopt;
}

// a = a * b + c, false (and `a` unspecified) when the result leaves [0, limit].
bool mul_add(std::int64_t& a, std::int64_t b, std::int64_t c, std::int64_t limit) {
  std::int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &a)) return false;
  return a <= limit;
}

}  // namespace

ParsedDuration parse_duration(std::string_view text, std::chrono::milliseconds max) {
  if (text.empty()) return {};
  if (text == "0") return {Status::ok, std::chrono::milliseconds(0)};
  const std::int64_t limit = max.count();
  std::int64_t total = 0;
  bool too_large = false;  // keep reading: a malformed tail is reported as malformed
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    bool number_too_large = false;
    const std::size_t digits_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      if (!number_too_large && !mul_add(number, 10, text[i] - '0', limit)) number_too_large = true;
      ++i;
    }
    if (i == digits_start) return {};
    const std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;
    const auto factor = unit_ms(text.substr(unit_start, i - unit_start));
    if (!factor) return {};
    std::int64_t part = number;
    if (number_too_large || !mul_add(part, *factor, 0, limit) || !mul_add(total, 1, part, limit)) too_large = true;
  }
  if (too_large) return {Status::too_large, std::chrono::milliseconds(0)};
  return {Status::ok, std::chrono::milliseconds(total)};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto parsed = parse_duration(text, std::chrono::milliseconds::max());
  if (parsed.status != Status::ok) return std::nullopt;
  return parsed.value;
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

}  // namespace kle::controller
