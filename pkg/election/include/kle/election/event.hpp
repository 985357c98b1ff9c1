#pragma once
// What the elector tells its subscribers: the seed's three events plus new_leader, each
// with the lease as this elector last saw it. No Asio here: the loop machine emits these.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <kle/api/microtime.hpp>

namespace kle::election {

enum class Event {
  leadership_acquired,  // LEADERSHIP_ACQUIRED
  leadership_lost,      // LEADERSHIP_LOST: renew deadline passed, lease taken or deleted, or stop()
  lease_renewed,        // LEASE_RENEWED (not emitted for the acquiring write itself)
  new_leader,           // the observed holder changed (any holder, including us; "" = released)
};
const char* to_string(Event e) noexcept;

// The payload of every event: the lease as this elector last saw it.
struct LeaseState {
  std::string holder;                 // empty when released / unheld
  std::int64_t transitions = 0;       // leaseTransitions: the fencing epoch
  std::optional<api::MicroTime> acquire_time;
  std::optional<api::MicroTime> renew_time;
  std::chrono::seconds lease_duration{0};
};

}  // namespace kle::election
