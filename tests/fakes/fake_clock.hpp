#pragma once
// Virtual time for election tests. FakeTime is the one timeline (a virtual monotonic now
// and the timers armed against it); FakeClock is one process's view of it, with its own
// monotonic epoch and wall-clock skew, so tests can give each elector a different (even
// wildly wrong) clock. arm() parks the real Asio timer at "never" and remembers it;
// advancing virtual time cancels the timers that came due, which wakes their waiters.
// drive() runs an io_context in virtual time: run every ready handler, and only when none
// is ready jump to the next deadline. Minutes of election take milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/election/clock.hpp>

namespace kle::testing {

using election::Clock;
using namespace std::chrono_literals;

class FakeTime {
 public:
  using time_point = Clock::time_point;
  using duration = Clock::duration;

  [[nodiscard]] time_point now() const { return now_; }
  [[nodiscard]] duration elapsed() const { return now_ - start_; }

  void arm(boost::asio::steady_timer& timer, time_point deadline) {
    forget(timer);
    timer.expires_at(time_point::max());
    armed_.push_back({deadline, &timer, seq_++});
  }
  void forget(boost::asio::steady_timer& timer) {
    std::erase_if(armed_, [&](const Entry& e) { return e.timer == &timer; });
  }

  // Moves time to t (never backwards) and cancels every timer due by then, in deadline order.
  void advance_to(time_point t) {
    if (t > now_) now_ = t;
    std::sort(armed_.begin(), armed_.end(), [](const Entry& a, const Entry& b) {
      return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
    });
    std::vector<Entry> due;
    auto split = std::find_if(armed_.begin(), armed_.end(), [&](const Entry& e) { return e.deadline > now_; });
    due.assign(armed_.begin(), split);
    armed_.erase(armed_.begin(), split);
    for (auto& e : due) e.timer->cancel();
  }
  void advance(duration d) { advance_to(now_ + d); }
  // Jumps to the earliest armed deadline; false when nothing is armed.
  bool advance_to_next() {
    const auto next = next_deadline();
    if (!next) return false;
    advance_to(*next);
    return true;
  }

  [[nodiscard]] std::optional<time_point> next_deadline() const {
    std::optional<time_point> next;
    for (const auto& e : armed_) {
      if (!next || e.deadline < *next) next = e.deadline;
    }
    return next;
  }

 private:
  struct Entry {
    time_point deadline;
    boost::asio::steady_timer* timer;
    std::uint64_t seq;
  };
  time_point start_ = time_point{} + std::chrono::hours(1000);
  time_point now_ = start_;
  std::vector<Entry> armed_;
  std::uint64_t seq_ = 0;
};

// One process's clock on the shared timeline.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::shared_ptr<FakeTime> time, duration monotonic_offset = {}, duration wall_skew = {})
      : time_(std::move(time)), offset_(monotonic_offset), skew_(wall_skew) {}

  [[nodiscard]] time_point now() const override { return time_->now() + offset_; }
  [[nodiscard]] api::MicroTime wall_now() const override {
    // A fixed date plus virtual elapsed time plus this process's skew.
    const auto base = api::MicroTime(std::chrono::microseconds(1795478400LL * 1000000LL));
    return base + std::chrono::duration_cast<std::chrono::microseconds>(time_->elapsed() + skew_);
  }
  void arm(boost::asio::steady_timer& timer, time_point deadline) override { time_->arm(timer, deadline - offset_); }
  void disarm(boost::asio::steady_timer& timer) noexcept override { time_->forget(timer); }
  [[nodiscard]] FakeTime& timeline() const { return *time_; }

 private:
  std::shared_ptr<FakeTime> time_;
  duration offset_;
  duration skew_;
};

// Runs ioc in virtual time until done() or until `limit` of virtual time has passed.
// after_step (optional) runs after every single handler and every time jump: the place
// for invariants that must hold at every instant. Returns done().
inline bool drive(boost::asio::io_context& ioc, FakeTime& time, const std::function<bool()>& done,
                  Clock::duration limit, const std::function<void()>& after_step = {}) {
  const auto until = time.now() + limit;
  while (!done()) {
    if (ioc.stopped()) ioc.restart();
    if (ioc.poll_one() > 0) {
      if (after_step) after_step();
      continue;
    }
    const auto next = time.next_deadline();
    if (!next || *next > until) {
      if (time.now() >= until) return done();
      time.advance_to(until);
    } else {
      time.advance_to(*next);
    }
    if (after_step) after_step();
  }
  return true;
}

// Lets virtual time pass (running everything due meanwhile).
inline void run_for(boost::asio::io_context& ioc, FakeTime& time, Clock::duration d,
                    const std::function<void()>& after_step = {}) {
  drive(ioc, time, [] { return false; }, d, after_step);
}

}  // namespace kle::testing
