#pragma once
// Go-style durations as Kubernetes flags spell them: "15s", "500ms", "1m30s", "2h".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kle::controller {

struct ParsedDuration {
  enum class Status { ok, malformed, too_large };
  Status status = Status::malformed;
  std::chrono::milliseconds value{0};  // set when ok
};

// Parses `text` and refuses anything above `max`. The arithmetic is checked, so no input
// (huge numbers, thousands of parts) can overflow: it is too_large instead.
ParsedDuration parse_duration(std::string_view text, std::chrono::milliseconds max);
// The same without a bound of its own: nullopt when malformed or beyond 64-bit milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace kle::controller
