#pragma once
// Go-style durations as Kubernetes flags spell them: "15s", "500ms", "1m30s", "2h".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kle::controller {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace kle::controller
