// The drivers of the follower's fast path and of the leader's deadline. The watch turns a
// release or a change of holder into a wake-up of the loop within one round trip; the
// watchdog ends leadership at the renew deadline even while a renewal is still in flight.
// When to reconnect, from where, and when the deadline falls are the machine's rules.
#include <csignal>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;

asio::awaitable<void> Elector::Impl::watch_loop() {
  auto self = shared_from_this();  // the loop may outlive the Elector object
  const std::weak_ptr<Impl> weak = self;
  while (!machine.stopping()) {
    std::function<void(const LeaseEvent&)> on_event = [weak](const LeaseEvent& e) {
      if (auto s = weak.lock()) s->on_watch_event(e);
    };
    std::string from = machine.on_watch_opened(clock->now());
    // The stream races the quiet detector; the loser is cancelled. Named awaitables, not
    // temporaries inside co_await: GCC 12 mishandles those.
    using namespace asio::experimental::awaitable_operators;
    auto stream = lock->watch(std::move(from), std::move(on_event));
    auto quiet = watch_went_quiet();
    auto raced = std::move(stream) || std::move(quiet);
    auto outcome = co_await std::move(raced);
    if (machine.stopping()) break;
    if (outcome.index() == 1) {
      machine.on_watch_quiet(clock->now());
      // The holder may be dead: open the takeover write's connection now, while its lease
      // still runs, so the takeover does not pay TCP + TLS (issue 14). Beside the new watch,
      // not before it; self keeps the lock alive, and a failed warm-up changes nothing.
      asio::co_spawn(ex, lock->warm(), [self](const std::exception_ptr&) {});
      continue;
    }
    const auto reconnect_at = machine.on_watch_ended(clock->now(), std::get<0>(outcome));
    flush();
    wake();  // run() falls back to polling while the watch is down
    if (reconnect_at > clock->now()) co_await sleep_on(watch_timer, reconnect_at);
  }
}

// Completes when the current stream has been quiet past the machine's deadline; returns
// quietly when the race is over (the stream ended first, or stop()).
asio::awaitable<void> Elector::Impl::watch_went_quiet() {
  while (true) {
    const auto due = machine.watch_quiet_deadline();
    if (due != kNever && clock->now() >= due) co_return;
    if (due == kNever) {
      clock->disarm(watch_quiet_timer);
      watch_quiet_timer.expires_at(kNever);
    } else {
      clock->arm(watch_quiet_timer, due);
    }
    boost::system::error_code ec;
    co_await watch_quiet_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) {
      clock->disarm(watch_quiet_timer);
      co_return;
    }
  }
}

void Elector::Impl::on_watch_event(const LeaseEvent& event) {
  if (machine.stopping()) return;
  watch_quiet_timer.cancel();  // the detector re-reads its deadline (it may have had none)
  const bool decide_again = machine.on_watch_event(clock->now(), event);
  flush();
  if (decide_again) wake();
}

asio::awaitable<void> Elector::Impl::watchdog() {
  auto self = shared_from_this();
  while (!machine.stopping()) {
    const auto deadline = machine.leadership_deadline();
    if (deadline != kNever && clock->now() >= deadline) {
      machine.on_leadership_deadline(clock->now());
      flush();
      continue;
    }
    if (deadline == kNever) {
      clock->disarm(watchdog_timer);
      watchdog_timer.expires_at(kNever);
    } else {
      clock->arm(watchdog_timer, deadline);
    }
    boost::system::error_code ec;
    co_await watchdog_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Elector::Impl::arm_signals() {
  signals.emplace(ex, SIGINT, SIGTERM);
  const std::weak_ptr<Impl> weak = weak_from_this();
  signals->async_wait([weak](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || self->machine.stopping()) return;
    self->log.info("signal received: stopping and releasing the lease", {{"signal", signal_number}});
    self->request_stop();
  });
}

}  // namespace kle::election
