#pragma once
// The Elector's drivers (internal). Every election rule and every piece of election data
// lives in the Machine (machine.hpp); what is here only carries its steps out through the
// LeaseLock, the Clock and Asio timers, and feeds the results back. Everything runs on one
// executor, so no locking; the coroutines share only the machine, whose inputs are plain
// calls, so an interleaving at a co_await cannot split a rule in half.
//   the loop    step() asks the machine for the next loop step (read, write, sleep,
//               shutdown) and carries it out: a sleep as a timer callback, a request as a
//               coroutine (perform); then the release on stop (shutdown).
//   the watch   callbacks (open_watch, watch_ended): opens the stream and reports its events,
//               quiet spells and ends; the quiet detector is a timer callback that cancels it.
//   watchdog    a timer callback at the machine's leadership deadline, even mid-request.
// A coroutine or callback that throws fails the elector closed and loudly (fail()).
#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/election/elector.hpp>
#include <kle/election/machine.hpp>

namespace kle::election::detail {

// A one-shot flag that coroutines can wait on. Its timer is made by the first wait(): most
// Electors are never waited on for leadership, and a timer is 120 bytes (issue 14).
class Latch {
 public:
  void set();
  [[nodiscard]] bool is_set() const noexcept { return set_; }
  boost::asio::awaitable<void> wait();

 private:
  std::unique_ptr<boost::asio::steady_timer> timer_;
  bool set_ = false;
};

// The threading rule of elector.hpp, checked where assertions are on (NDEBUG unset: the dev
// and ASan builds). start() claims the elector for the thread it runs on; from then on every
// public call and every step of its coroutines must come from that thread, or the process
// aborts saying which call broke the rule. A data race found this way is a crash with a
// reason, not a rare corrupted map.
class OwnerThread {
 public:
  void claim() noexcept;
  void check(const char* call) const noexcept;

 private:
  std::atomic<std::thread::id> owner_{};
};

}  // namespace kle::election::detail

namespace kle::election {

struct Elector::Impl : std::enable_shared_from_this<Elector::Impl> {
  // `opts` as checked by the Elector (names from the lock, defaults filled, names valid).
  Impl(boost::asio::any_io_executor executor, std::unique_ptr<LeaseLock> lease_lock, const ElectorOptions& opts,
       std::shared_ptr<Clock> clk);
  ~Impl();

  // --- configuration: what the drivers need of the options. The names, the timings and the
  // Logger are the machine's (machine.config(), machine.log()), kept once per Elector.
  boost::asio::any_io_executor ex;
  std::unique_ptr<LeaseLock> lock;  // null: standalone
  std::shared_ptr<ElectorObserver> observer;
  std::shared_ptr<Clock> clock;

  // --- the election: all its rules and data
  Machine machine;

  // --- subscriptions
  std::map<std::uint64_t, EventHandler> handlers;
  std::uint64_t next_handler_id = 1;

  // --- the drivers' own state: timers and wake-ups, nothing the election decides on
  bool auto_close = true;           // options.auto_close
  bool wait_for_leadership = false;  // options.wait_for_leadership
  bool started = false;
  bool wake_pending = false;     // an event came while the loop was not sleeping
  bool quiet_detector_on = false;  // a stream is open and its quiet detector counts
  bool quiet_fired = false;        // it cancelled the stream: the stream went quiet
  std::uint32_t quiet_generation = 0;
  std::uint32_t watchdog_generation = 0;
  std::exception_ptr failure;    // the first coroutine or callback failure, rethrown when the loop ends
  // Three timers, each shared by uses that never overlap (a process of a thousand Leases pays
  // 120 bytes a timer a thousand times, issue 14):
  //   wake_timer     the loop's sleeps, and the release's waits once it is in shutdown();
  //   watchdog_timer the renew deadline; made when first leading (a follower has none);
  //   watch_timer    the open stream's quiet detector, or the wait before the next stream.
  boost::asio::steady_timer wake_timer;
  std::unique_ptr<boost::asio::steady_timer> watchdog_timer;
  boost::asio::steady_timer watch_timer;
  boost::asio::cancellation_signal watch_cancel;
  std::unique_ptr<boost::asio::signal_set> signals;  // auto_close, once started
  detail::OwnerThread owner;
  detail::Latch loop_done;
  detail::Latch leader_known;

  // elector.cpp: effects, stopping, failures
  void flush();
  void post_event(Event event, const LeaseState& payload);
  void wake();
  void request_stop();
  void fail(const std::exception_ptr& error, const char* coroutine) noexcept;
  void safety_net_failed(const std::exception_ptr& error, const char* which);
  // Runs a step of the watch's callbacks; what it throws fails the elector as a coroutine's
  // failure would (safety_net_failed), since no coroutine is there to carry it.
  template <class F>
  void in_watch(F&& step) {
    try {
      std::forward<F>(step)();
    } catch (...) {
      safety_net_failed(std::current_exception(), "lease watch");
    }
  }

  // elector_loop.cpp: the loop's driver
  void spawn();
  void step() noexcept;
  void woke() noexcept;
  void loop_ended(const std::exception_ptr& e);
  boost::asio::awaitable<void> run_standalone();
  boost::asio::awaitable<void> perform(LoopStep step);
  boost::asio::awaitable<void> shutdown();
  bool arm_wake(Clock::time_point deadline);
  boost::asio::awaitable<void> sleep_on(boost::asio::steady_timer& timer, Clock::time_point deadline);

  // elector_watch.cpp: the watch's and the deadline's drivers
  void open_watch();
  void watch_ended(const std::exception_ptr& error, api::Result<void> ended);
  void await_reconnect(Clock::time_point at);
  void start_quiet_detector();
  void arm_quiet_detector();
  void quiet_spell();
  void disarm_quiet_detector();
  void arm_watchdog();
  void watchdog_fired();
  void disarm_watchdog();
  void on_watch_event(const LeaseEvent& event);
  void arm_signals();
};

}  // namespace kle::election
