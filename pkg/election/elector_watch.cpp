// The follower's fast path and the leader's deadline. The watch turns a release or a
// change of holder into a wake-up of the loop within one round trip; the watchdog ends
// leadership at the renew deadline even while a renewal request is still in flight.
#include <algorithm>
#include <csignal>
#include <variant>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "election/elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr auto kNever = std::chrono::steady_clock::time_point::max();

}  // namespace

asio::awaitable<void> Elector::Impl::watch_loop() {
  auto self = shared_from_this();  // the loop may outlive the Elector object
  const Clock::duration first_backoff = std::max<Clock::duration>(timings.retry_period / 4, milliseconds(100));
  const Clock::duration max_backoff = timings.lease_duration;
  Clock::duration backoff = first_backoff;
  bool from_now = false;  // a 410 even on a watch from now backs off instead of spinning
  const std::weak_ptr<Impl> weak = self;
  while (!stopping) {
    const auto began = clock->now();
    watch_up = true;
    watch_active_at = began;
    std::function<void(const LeaseEvent&)> on_event = [weak](const LeaseEvent& e) {
      if (auto s = weak.lock()) s->on_watch_event(e);
    };
    std::string from = watch_rv;
    // The stream races the quiet detector; the loser is cancelled. Named awaitables, not
    // temporaries inside co_await: GCC 12 mishandles those.
    using namespace asio::experimental::awaitable_operators;
    auto stream = lock->watch(std::move(from), std::move(on_event));
    auto quiet = watch_went_quiet();
    auto raced = std::move(stream) || std::move(quiet);
    auto outcome = co_await std::move(raced);
    watch_up = false;
    if (stopping) break;
    if (outcome.index() == 1) {
      // One request: watch again from the version we hold, which replays what the silent
      // stream missed (a release above all). No wake(): run() need not poll meanwhile.
      ++quiet_reconnects;
      log.info("lease watch quiet while the lease is held; watching again",
               {{"holder", observed_holder()}, {"resource_version", watch_rv},
                {"quiet_ms", std::chrono::duration_cast<milliseconds>(clock->now() - watch_active_at).count()}});
      continue;
    }
    const auto& r = std::get<0>(outcome);
    wake();  // run() falls back to polling while the watch is down
    if (r && clock->now() - began >= timings.retry_period) {
      backoff = first_backoff;  // a stream that ran a while and ended: the server's timeout
      from_now = false;
      continue;
    }
    const bool gone = !r && r.error().is(api::ErrorKind::gone);
    if (gone && !from_now) {
      // Not a GET and a watch from the version it returns: that is the Lease's own last
      // write, which a restarted apiserver's watch cache (or a compaction while other
      // objects changed) no longer has either, so an idle lease would 410 forever. A watch
      // without a resourceVersion starts from now and opens with the current state (ADDED).
      log.info("watch resourceVersion too old; watching again from the current state",
               {{"resource_version", watch_rv}});
      watch_rv.clear();
      from_now = true;
      continue;
    }
    if (!r) log.warn("lease watch failed", {{"error", r.error().describe()}});
    from_now = false;
    co_await sleep_on(watch_timer, clock->now() + jittered(backoff));
    backoff = std::min(backoff * 2, max_backoff);
  }
}

// A stream can stall silently (a dead connection the kernel has not noticed, a
// stuck proxy) and would be noticed only at the server's watch timeout (minutes), losing
// the fast handover meanwhile. While someone else holds the lease it renews every retry
// period, so its renewals are a heartbeat on our stream: three periods without a single
// event (bookmarks count) means the stream, not the holder, went quiet. Watch bookmarks
// would also do, but the server sends them about once a minute at its own discretion.
// The period is ours or, when slower, the holder's as seen in its renewTimes (a Node or
// client-go holder may renew less often). Each fruitless reconnect in a row doubles the
// wait (a holder that really stopped), up to the lease duration. Nobody renews a released,
// missing or self-named lease, and the leader has nothing to miss: there the detector
// never fires, so an idle follower still makes no requests at all.
Clock::time_point Elector::Impl::watch_quiet_deadline() const {
  const std::string holder = observed_holder();
  if (leader || holder.empty() || holder == options.identity) return kNever;
  const Clock::duration period = std::max<Clock::duration>(timings.retry_period, holder_cadence.value_or(Clock::duration{}));
  const Clock::duration base = 3 * period;
  Clock::duration limit = base;
  for (int i = 0; i < quiet_reconnects && limit < timings.lease_duration; ++i) limit *= 2;
  return watch_active_at + limit;
}

// Completes when the current stream has been quiet past watch_quiet_deadline(); returns
// quietly when the race is over (the stream ended first, or stop()).
asio::awaitable<void> Elector::Impl::watch_went_quiet() {
  while (true) {
    const auto due = watch_quiet_deadline();
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
  if (stopping) return;
  watch_active_at = clock->now();
  quiet_reconnects = 0;
  watch_quiet_timer.cancel();  // the detector re-reads its deadline (it may have had none)
  switch (event.type) {
    case LeaseEvent::Type::bookmark:
      if (!event.lease.resource_version.empty()) watch_rv = event.lease.resource_version;
      return;
    case LeaseEvent::Type::deleted:
      observe_deleted(event.lease.resource_version);
      break;
    case LeaseEvent::Type::added:
    case LeaseEvent::Type::modified:
      observe(event.lease);
      break;
  }
  wake();
}

asio::awaitable<void> Elector::Impl::watchdog() {
  auto self = shared_from_this();
  while (!stopping) {
    if (leader && last_renewal) {
      const auto deadline = *last_renewal + timings.renew_deadline;
      if (clock->now() >= deadline) {
        step_down("no successful renewal within the renew deadline (" +
                  std::to_string(timings.renew_deadline.count()) + "ms)");
        continue;
      }
      clock->arm(watchdog_timer, deadline);
    } else {
      clock->disarm(watchdog_timer);
      watchdog_timer.expires_at(std::chrono::steady_clock::time_point::max());
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
    if (!self || self->stopping) return;
    self->log.info("signal received: stopping and releasing the lease", {{"signal", signal_number}});
    self->request_stop();
  });
}

}  // namespace kle::election
