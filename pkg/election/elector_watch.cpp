// The follower's fast path and the leader's deadline. The watch turns a release or a
// change of holder into a wake-up of the loop within one round trip; the watchdog ends
// leadership at the renew deadline even while a renewal request is still in flight.
#include <algorithm>
#include <csignal>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "election/elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;
using std::chrono::milliseconds;

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
    std::function<void(const LeaseEvent&)> on_event = [weak](const LeaseEvent& e) {
      if (auto s = weak.lock()) s->on_watch_event(e);
    };
    std::string from = watch_rv;
    auto r = co_await lock->watch(std::move(from), std::move(on_event));
    watch_up = false;
    if (stopping) break;
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

void Elector::Impl::on_watch_event(const LeaseEvent& event) {
  if (stopping) return;
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
