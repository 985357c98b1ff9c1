// The loop's driver: ask the machine for the next step, carry it out through the
// LeaseLock or a timer, report the result, carry out the effects. No election rule here.
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;

// Every coroutine's end goes through fail() when it threw; see there for why that stops
// the elector. The loop's completion rethrows, once the release had its chance.
void Elector::Impl::spawn() {
  auto self = shared_from_this();
  if (auto_close) arm_signals();
  asio::co_spawn(ex, run(), [self](const std::exception_ptr& e) {
    if (e) self->fail(e, "election loop");
    self->loop_done.set();
    // Posted, so the events queued before it (leadership_lost) reach the subscribers first.
    if (self->failure) asio::post(self->ex, [failure = self->failure] { std::rethrow_exception(failure); });
  });
  if (!lock) return;
  // Posted, as co_spawn starts run(): the watch opens after this call, behind the loop's start.
  asio::post(ex, [self] {
    try {
      self->open_watch();
    } catch (...) {
      self->safety_net_failed(std::current_exception(), "lease watch");
    }
  });
  arm_watchdog();
}

asio::awaitable<void> Elector::Impl::run() {
  if (!lock) {
    machine.lead_standalone();
    flush();
    while (!machine.stopping()) {
      if (arm_wake(kNever)) {
        boost::system::error_code ec;
        co_await wake_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      wake_pending = false;
    }
    machine.stop_standalone();
    flush();
    co_return;
  }
  while (true) {
    const LoopStep step = machine.next(clock->now(), clock->wall_now());
    flush();
    if (step.kind == LoopStep::Kind::shutdown) break;
    // A sleep is awaited here, in this frame, rather than in perform() or a sleep coroutine:
    // while it waits, an idle Elector then holds this one frame, not perform()'s room for a
    // read and a write as well (about 1.9 KiB) nor a sleep's frame (a process of a thousand
    // Leases is mostly idle Electors, issue 14).
    if (step.kind == LoopStep::Kind::sleep) {
      if (arm_wake(step.until)) {
        boost::system::error_code ec;
        co_await wake_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      wake_pending = false;
      flush();
    } else {
      co_await perform(step);
    }
  }
  co_await shutdown();
}

asio::awaitable<void> Elector::Impl::perform(LoopStep step) {
  switch (step.kind) {
    case LoopStep::Kind::read: {
      const auto r = co_await lock->get();
      machine.on_read(clock->now(), r);
      break;
    }
    case LoopStep::Kind::write: {
      // Not a conditional expression: GCC 12 miscompiles co_await inside ?: (double destroy).
      std::optional<api::Result<api::Lease>> result;
      if (step.decision.action == Action::create) {
        result.emplace(co_await lock->create(step.decision.record));
      } else {
        result.emplace(co_await lock->update(step.decision.record));
      }
      machine.on_write(clock->now(), *result);
      break;
    }
    case LoopStep::Kind::sleep:     // run() sleeps itself
    case LoopStep::Kind::shutdown: break;
  }
  flush();
}

asio::awaitable<void> Elector::Impl::shutdown() {
  machine.begin_shutdown(clock->now());
  flush();
  while (true) {
    const ReleaseStep step = machine.next_release(clock->now(), clock->wall_now());
    flush();
    if (step.kind == ReleaseStep::Kind::done) break;
    if (step.kind == ReleaseStep::Kind::read) {
      const auto r = co_await lock->get();
      machine.on_release_read(clock->now(), r);
    } else if (step.kind == ReleaseStep::Kind::write) {
      api::Lease record = step.record;  // named: GCC 12 mishandles temporaries in co_await
      const auto w = co_await lock->update(std::move(record));
      machine.on_release_write(clock->now(), w);
    } else {
      // The wake timer, free now that run() has left its loop; a wake() (stop() again, a
      // failure) only ends the wait early, and the release's waits are not woken.
      while (clock->now() < step.until) co_await sleep_on(wake_timer, step.until);
    }
    flush();
  }
}

// Readies a sleep until deadline, or until wake() (a watch event, stop()): false when a
// wake-up came while run() was not sleeping (or it is stopping), so there is nothing to wait for.
bool Elector::Impl::arm_wake(Clock::time_point deadline) {
  if (wake_pending || machine.stopping()) return false;
  if (deadline == kNever) {
    clock->disarm(wake_timer);
    wake_timer.expires_at(kNever);
  } else {
    clock->arm(wake_timer, deadline);
  }
  return true;
}

asio::awaitable<void> Elector::Impl::sleep_on(asio::steady_timer& timer, Clock::time_point deadline) {
  clock->arm(timer, deadline);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace kle::election
