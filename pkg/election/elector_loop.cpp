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

// The loop is callbacks between its requests: a sleep is the `loop_sleep` timer entry, whose
// callback takes the next step, a read or write is a coroutine (perform) whose completion does.
// An idle Elector then holds no coroutine frame and no pending Asio wait, only its entry in the
// shared queue (issue 14: a process of a thousand Leases is mostly idle Electors, and a held
// loop frame with its co_spawn cost about 1 KiB each). Whatever a step throws ends the loop
// through loop_ended(), as an exception out of a loop coroutine would; the loop's handlers keep
// the Impl alive until then. A sleep need not: while the loop sleeps the Elector, which owns
// the Impl, exists (its destructor stops a started loop, which wakes it, and a stopping loop
// never sleeps), and a wake() that ends a sleep early posts a handler that holds the Impl.
void Elector::Impl::spawn() {
  auto self = shared_from_this();
  if (auto_close) arm_signals();
  // Posted: the loop starts after this call, as a co_spawn'd coroutine would.
  if (!lock) {
    asio::co_spawn(ex, run_standalone(), [self](const std::exception_ptr& e) { self->loop_ended(e); });
    return;
  }
  asio::post(ex, [self] { self->step(); });
  // Behind the loop's start, so the watch opens beside its first request.
  asio::post(ex, [self] { self->in_watch([&] { self->open_watch(); }); });
  arm_watchdog();
}

void Elector::Impl::loop_ended(const std::exception_ptr& e) {
  if (e) fail(e, "election loop");
  loop_done.set();
  // Posted, so the events queued before it (leadership_lost) reach the subscribers first.
  if (failure) asio::post(ex, [failure = failure] { std::rethrow_exception(failure); });
}

// Takes steps until one has to wait: for a timer (a callback), for the lock (perform()), or
// for the release (shutdown()), whose ends call back here or end the loop.
void Elector::Impl::step() noexcept {
  try {
    while (true) {
      const LoopStep next = machine.next(clock()->now(), clock()->wall_now());
      flush();
      if (next.kind == LoopStep::Kind::shutdown) {
        asio::co_spawn(ex, shutdown(), [self = shared_from_this()](const std::exception_ptr& e) { self->loop_ended(e); });
        return;
      }
      if (next.kind != LoopStep::Kind::sleep) {
        asio::co_spawn(ex, perform(next), [self = shared_from_this()](const std::exception_ptr& e) {
          if (e) return self->loop_ended(e);
          self->step();
        });
        return;
      }
      if (arm_wake(next.until)) return;  // sleep_ended() or wake() takes the next step
      wake_pending = false;
      flush();
    }
  } catch (...) {
    loop_ended(std::current_exception());
  }
}

// The sleep's deadline came. The Impl is alive (its entries leave the queue when it goes);
// held here, like the wait's handler held it, so that a subscriber or observer dropping the
// Elector in the middle of the step cannot destroy it under the step.
void Elector::Impl::sleep_ended(void* impl) {
  if (auto self = static_cast<Impl*>(impl)->weak_from_this().lock()) self->woke();
}

// The sleep ended: its deadline, or a wake() (a watch event, stop()).
void Elector::Impl::woke() noexcept {
  try {
    wake_pending = false;
    flush();
  } catch (...) {
    return loop_ended(std::current_exception());
  }
  step();
}

// An Elector without a lock leads at once and only waits for stop().
asio::awaitable<void> Elector::Impl::run_standalone() {
  machine.lead_standalone();
  flush();
  while (!machine.stopping()) {
    if (!wake_pending) co_await sleep_on(kNever);
    wake_pending = false;
  }
  machine.stop_standalone();
  flush();
}

asio::awaitable<void> Elector::Impl::perform(LoopStep step) {
  switch (step.kind) {
    case LoopStep::Kind::read: {
      const auto r = co_await lock->get();
      machine.on_read(clock()->now(), r);
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
      machine.on_write(clock()->now(), *result);
      break;
    }
    case LoopStep::Kind::sleep:     // step() sleeps itself
    case LoopStep::Kind::shutdown: break;
  }
  flush();
}

asio::awaitable<void> Elector::Impl::shutdown() {
  machine.begin_shutdown(clock()->now());
  flush();
  while (true) {
    const ReleaseStep step = machine.next_release(clock()->now(), clock()->wall_now());
    flush();
    if (step.kind == ReleaseStep::Kind::done) break;
    if (step.kind == ReleaseStep::Kind::read) {
      const auto r = co_await lock->get();
      machine.on_release_read(clock()->now(), r);
    } else if (step.kind == ReleaseStep::Kind::write) {
      api::Lease record = step.record;  // named: GCC 12 mishandles temporaries in co_await
      const auto w = co_await lock->update(std::move(record));
      machine.on_release_write(clock()->now(), w);
    } else {
      // A wake() (stop() again, a failure) only ends the wait early: the release's waits are
      // not woken.
      while (clock()->now() < step.until) co_await sleep_on(step.until);
    }
    flush();
  }
}

// Readies a sleep until deadline, or until wake() (a watch event, stop()): false when a
// wake-up came while the loop was not sleeping (or it is stopping), so there is nothing to wait for.
bool Elector::Impl::arm_wake(Clock::time_point deadline) {
  if (wake_pending || machine.stopping()) return false;
  loop_sleep.arm(deadline);
  return true;
}

// A wait of the coroutine paths, until deadline or wake(). Their timer is made here, on first
// use: most Electors are not standalone and never wait inside a release (issue 14).
asio::awaitable<void> Elector::Impl::sleep_on(Clock::time_point deadline) {
  if (!coro_timer) coro_timer = std::make_unique<asio::steady_timer>(ex);
  if (deadline == kNever) {
    clock()->disarm(*coro_timer);
    coro_timer->expires_at(kNever);
  } else {
    clock()->arm(*coro_timer, deadline);
  }
  boost::system::error_code ec;
  co_await coro_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace kle::election
