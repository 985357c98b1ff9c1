#pragma once
// Time as the elector sees it. Expiry is judged only on the monotonic now(); wall_now() is
// only ever written into the Lease (renewTime/acquireTime), never compared with it.
// arm() lets a fake clock drive real Asio timers, so tests run minutes in milliseconds.
#include <chrono>
#include <memory>

#include <boost/asio/steady_timer.hpp>

#include <kle/api/microtime.hpp>

namespace kle::election {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  [[nodiscard]] virtual time_point now() const = 0;
  [[nodiscard]] virtual api::MicroTime wall_now() const = 0;
  // After this, timer.async_wait completes when now() reaches deadline, or on cancel().
  virtual void arm(boost::asio::steady_timer& timer, time_point deadline) = 0;
  // The timer is going away: forget it (a fake clock keeps a pointer to armed timers).
  virtual void disarm(boost::asio::steady_timer& /*timer*/) noexcept {}
};

// steady_clock + system_clock.
std::shared_ptr<Clock> system_clock();

}  // namespace kle::election
