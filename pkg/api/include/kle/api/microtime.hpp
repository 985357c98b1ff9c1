#pragma once
// metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits, as the apiserver
// and client-go write renewTime/acquireTime ("2026-11-24T19:37:30.123456Z").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kle::api {

using MicroTime = std::chrono::sys_time<std::chrono::microseconds>;

std::string format_micro_time(MicroTime t);
// Accepts what servers and other clients write: 'Z' or a numeric offset, 0-9 fractional
// digits. Returns nullopt on anything else.
std::optional<MicroTime> parse_micro_time(std::string_view text);
MicroTime micro_now();

}  // namespace kle::api
