#pragma once
// The instants the pure tests (decide(), the loop machine) start from: a monotonic time far
// from zero, and a wall time that is never compared with it.
#include <chrono>

#include <kle/api/microtime.hpp>
#include <kle/election/clock.hpp>

namespace kle::testing {

inline const election::Clock::time_point kT0{std::chrono::hours(100)};
inline const api::MicroTime kWall{std::chrono::microseconds(1795478400000000LL)};

}  // namespace kle::testing
