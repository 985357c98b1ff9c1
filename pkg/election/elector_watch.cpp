// The drivers of the follower's fast path and of the leader's deadline. The watch turns a
// release or a change of holder into a wake-up of the loop within one round trip; the
// watchdog ends leadership at the renew deadline even while a renewal is still in flight.
// When to reconnect, from where, and when the deadline falls are the machine's rules.
#include <csignal>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include "elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;

namespace {

// A cancellation that lands between two of a stream's operations is thrown by Asio at the next
// one, so a coroutine watch may end with operation_aborted rather than return cancelled.
bool aborted(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& err) {
    return err.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

}  // namespace

// The watch is callbacks, not a coroutine: between two events an idle follower holds no frame
// (issue 14; with the shared hub, it holds only its subscription). open_watch() starts a
// stream, watch_ended() decides what comes next: at once after a quiet spell, or after the
// machine's reconnect wait on the watch_wait entry.
void Elector::Impl::open_watch() {
  if (machine.stopping()) return;
  std::string from = machine.on_watch_opened(clock()->now());
  start_quiet_detector();
  const std::weak_ptr<Impl> weak = weak_from_this();
  // An event's effects run here, inside the stream's delivery (the shared hub delivers to every
  // subscriber from one coroutine): a throwing observer or log sink fails this elector, not the
  // stream its neighbours share.
  auto on_event = [weak](const LeaseEvent& e) {
    auto self = weak.lock();
    if (!self) return;
    self->in_watch([&] { self->on_watch_event(e); });
  };
  // Strong: the lock (ours) must outlive the stream it runs, whichever ends first.
  auto on_end = [self = shared_from_this()](const std::exception_ptr& e, api::Result<void> ended) {
    self->in_watch([&] { self->watch_ended(e, std::move(ended)); });
  };
  lock->start_watch(ex, std::move(from), std::move(on_event), std::move(on_end), watch_cancel.slot());
}

void Elector::Impl::watch_ended(const std::exception_ptr& error, api::Result<void> ended) {
  if (error) {
    // Ours (quiet, stop) are how a stream ends; any other exception is a bug.
    if (!aborted(error) || !(quiet_fired || machine.stopping())) std::rethrow_exception(error);
    ended = api::local_error(api::ErrorKind::cancelled, "lease watch cancelled");
  }
  const bool went_quiet = quiet_fired;
  disarm_quiet_detector();
  // stop() sets stopping() before it cancels, so it is never lost here.
  if (machine.stopping()) return;
  if (went_quiet) {
    machine.on_watch_quiet(clock()->now());
    // The holder may be dead: open the takeover write's connection now, while its lease
    // still runs, so the takeover does not pay TCP + TLS (issue 14). Beside the new watch,
    // not before it; the handler keeps the lock alive, and a failed warm-up changes nothing.
    asio::co_spawn(ex, lock->warm(), [self = shared_from_this()](const std::exception_ptr&) {});
    return open_watch();
  }
  const auto reconnect_at = machine.on_watch_ended(clock()->now(), ended);
  flush();
  wake();  // the loop falls back to polling while the watch is down
  await_reconnect(reconnect_at);
}

// The wait before the next stream, on watch_wait (no stream is open, so its quiet detector
// is off). It need not keep the Impl alive: only stop() ends it early, and it is then moot.
void Elector::Impl::await_reconnect(Clock::time_point at) {
  if (machine.stopping()) return;
  if (clock()->now() >= at) return open_watch();
  watch_wait.arm(at);
}

// watch_wait came due: the quiet detector's deadline while a stream is open, else the
// reconnect's. Both re-read the time and the deadline, which the stream's events move.
void Elector::Impl::watch_wait_ended(void* impl) {
  auto self = static_cast<Impl*>(impl)->weak_from_this().lock();
  if (!self || self->machine.stopping()) return;
  self->in_watch([&] {
    if (self->quiet_detector_on) return self->arm_quiet_detector();
    self->await_reconnect(self->watch_wait.deadline());
  });
}

// The quiet detector of the open stream: a timer entry and a callback, not a coroutine raced
// against the stream (in a process of a thousand Leases, every idle Elector held one, with
// the race's parallel group: about 2 KiB each, issue 14). At the machine's deadline it cancels
// the stream through the watch loop's slot; quiet_fired tells the loop why it ended.
void Elector::Impl::start_quiet_detector() {
  quiet_detector_on = true;
  quiet_fired = false;
  arm_quiet_detector();
}

void Elector::Impl::arm_quiet_detector() {
  if (!quiet_detector_on || quiet_fired) return;
  const auto due = machine.watch_quiet_deadline();
  if (due == kNever) return watch_wait.cancel();
  if (clock()->now() >= due) return quiet_spell();
  watch_wait.arm(due);
}

void Elector::Impl::quiet_spell() {
  quiet_fired = true;
  watch_wait.cancel();
  watch_cancel.emit(asio::cancellation_type::terminal);
}

void Elector::Impl::disarm_quiet_detector() {
  quiet_detector_on = false;
  quiet_fired = false;
  watch_wait.cancel();
}

void Elector::Impl::on_watch_event(const LeaseEvent& event) {
  if (machine.stopping()) return;
  const bool decide_again = machine.on_watch_event(clock()->now(), event);
  arm_quiet_detector();  // the event moved the deadline (or gave it one)
  flush();
  if (decide_again) wake();
}

// The renew-deadline watchdog: a timer entry and a callback, re-armed whenever it fires or the
// leadership changes (flush()), not a coroutine per Elector (issue 14: in a process of a
// thousand Leases every idle Elector held one, with its frame and its pending wait).
// It runs outside the coroutines, so it keeps their rule itself: anything it throws (a log
// sink, an observer) fails the elector closed and loudly, as a coroutine's failure would.
void Elector::Impl::arm_watchdog() {
  const auto deadline = machine.leadership_deadline();
  if (machine.stopping() || deadline == kNever) return disarm_watchdog();
  // Armed even when the deadline has passed: the entry then fires at once, from the
  // io_context, never inside the flush() that re-armed it (whose remaining effects would
  // otherwise come after the ones the deadline adds).
  watchdog.arm(deadline);
}

void Elector::Impl::watchdog_due(void* impl) {
  auto self = static_cast<Impl*>(impl)->weak_from_this().lock();
  if (!self || self->machine.stopping()) return;
  try {
    self->watchdog_fired();
  } catch (...) {
    self->safety_net_failed(std::current_exception(), "renew-deadline watchdog");
  }
}

void Elector::Impl::watchdog_fired() {
  const auto deadline = machine.leadership_deadline();
  if (deadline != kNever && clock()->now() >= deadline) {
    machine.on_leadership_deadline(clock()->now());
    flush();
  }
  arm_watchdog();
}

void Elector::Impl::disarm_watchdog() { watchdog.cancel(); }

void Elector::Impl::arm_signals() {
  signals = std::make_unique<asio::signal_set>(ex, SIGINT, SIGTERM);
  const std::weak_ptr<Impl> weak = weak_from_this();
  signals->async_wait([weak](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || self->machine.stopping()) return;
    self->machine.log().info("signal received: stopping and releasing the lease", {{"signal", signal_number}});
    self->request_stop();
  });
}

}  // namespace kle::election
