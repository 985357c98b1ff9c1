#pragma once
// The Elector's drivers (internal). Every election rule and every piece of election data
// lives in the Machine (machine.hpp); what is here only carries its steps out through the
// LeaseLock, the Clock and Asio timers, and feeds the results back. Everything runs on one
// executor, so no locking; the coroutines share only the machine, whose inputs are plain
// calls, so an interleaving at a co_await cannot split a rule in half.
//   the loop    step() asks the machine for the next loop step (read, write, sleep,
//               shutdown) and carries it out: a sleep as a timer entry, a request as a
//               coroutine (perform); then the release on stop (shutdown).
//   the watch   callbacks (open_watch, watch_ended): opens the stream and reports its events,
//               quiet spells and ends; the quiet detector is a timer entry that cancels it.
//   watchdog    a timer entry at the machine's leadership deadline, even mid-request.
// The timer entries share one Asio timer with every Elector on the io_context that uses the
// same Clock (timer_queue.hpp).
// A coroutine or callback that throws fails the elector closed and loudly (fail()).
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/election/elector.hpp>
#include <kle/election/machine.hpp>

#include "timer_queue.hpp"

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
       const std::shared_ptr<Clock>& clk);
  ~Impl();

  // --- configuration: what the drivers need of the options. The names, the timings and the
  // Logger are the machine's (machine.config(), machine.log()), kept once per Elector.
  boost::asio::any_io_executor ex;
  std::unique_ptr<LeaseLock> lock;  // null: standalone
  std::shared_ptr<ElectorObserver> observer;

  // --- the election: all its rules and data
  Machine machine;

  // --- subscriptions
  // By id, which only grows: push_back keeps the order. A vector, not a map: one handler
  // costs 40 bytes in one block, not an 80-byte node (issue 14, an on() per Lease).
  std::vector<std::pair<std::uint64_t, EventHandler>> handlers;
  std::uint64_t next_handler_id = 1;
  [[nodiscard]] EventHandler* handler(std::uint64_t id);

  // --- the drivers' own state: timers and wake-ups, nothing the election decides on
  bool auto_close = true;           // options.auto_close
  bool wait_for_leadership = false;  // options.wait_for_leadership
  bool started = false;
  bool wake_pending = false;     // an event came while the loop was not sleeping
  bool quiet_detector_on = false;  // a stream is open and its quiet detector counts
  bool quiet_fired = false;        // it cancelled the stream: the stream went quiet
  std::exception_ptr failure;    // the first coroutine or callback failure, rethrown when the loop ends
  // Entries in the shared queue, not Asio timers: an idle follower's two pending waits cost
  // 576 bytes each and its two timers 120 each (issue 14, a thousand Leases in one process).
  // An entry is 48 bytes, and while armed a slot in the queue's heap; arming allocates
  // nothing. Cancelling one is final at once, so its callback needs no generation to spot a
  // stale wake-up.
  //   loop_sleep  the loop's sleeps;
  //   watch_wait  the open stream's quiet detector, or the wait before the next stream;
  //   watchdog    the renew deadline (only a leader arms it).
  // The queue is declared first: the entries leave it when they are destroyed.
  std::shared_ptr<detail::TimerQueue> timers;
  // The Elector's clock is its queue's (one queue per io_context and Clock): not kept twice.
  [[nodiscard]] Clock* clock() const noexcept { return &timers->clock(); }
  detail::TimerEntry loop_sleep;
  detail::TimerEntry watch_wait;
  detail::TimerEntry watchdog;
  // The waits of the rare coroutine paths: a standalone Elector's wait for stop(), and the
  // release's waits in shutdown(). Made by the first of them (sleep_on).
  std::unique_ptr<boost::asio::steady_timer> coro_timer;
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
  static void sleep_ended(void* impl);
  boost::asio::awaitable<void> sleep_on(Clock::time_point deadline);

  // elector_watch.cpp: the watch's and the deadline's drivers
  void open_watch();
  void watch_ended(const std::exception_ptr& error, api::Result<void> ended);
  void await_reconnect(Clock::time_point at);
  static void watch_wait_ended(void* impl);
  void start_quiet_detector();
  void arm_quiet_detector();
  void quiet_spell();
  void disarm_quiet_detector();
  void arm_watchdog();
  static void watchdog_due(void* impl);
  void watchdog_fired();
  void disarm_watchdog();
  void on_watch_event(const LeaseEvent& event);
  void arm_signals();
};

}  // namespace kle::election
