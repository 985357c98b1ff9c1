// The election loop: decide (decision.cpp) and carry the answer out through the LeaseLock.
// Followers act on the watched record (elector_watch.cpp) and wake at local expiry; the
// leader PUTs its cached record every retry period and reads only after a conflict.
#include <algorithm>
#include <exception>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "election/elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr auto kNever = std::chrono::steady_clock::time_point::max();

// A server's Retry-After as a wait we can add to a time point, at most `cap`. api::Error
// clamps what it parses, but any LeaseLock may fill retry_after, so compare in seconds
// first: converting 2^63-1 s to the clock's nanoseconds is the overflow.
Clock::duration honoured_retry_after(std::chrono::seconds retry_after, Clock::duration cap) {
  if (retry_after <= std::chrono::seconds::zero()) return Clock::duration::zero();
  if (retry_after >= std::chrono::ceil<std::chrono::seconds>(cap)) return cap;
  return retry_after;  // below cap's whole seconds: converts without overflow, stays <= cap
}

bool may_have_landed(api::ErrorKind kind) {
  // The request may have reached the server even though we got no answer.
  return kind == api::ErrorKind::timeout || kind == api::ErrorKind::transport || kind == api::ErrorKind::cancelled ||
         kind == api::ErrorKind::server_error || kind == api::ErrorKind::bad_response;
}

}  // namespace

void Elector::Impl::spawn() {
  auto self = shared_from_this();
  if (options.auto_close) arm_signals();
  asio::co_spawn(ex, run(), [self](const std::exception_ptr& e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex_) {
        self->log.error("election loop failed", {{"error", ex_.what()}});
      }
      self->step_down("the election loop failed");
    }
    self->loop_done.set();
  });
  if (!lock) return;
  asio::co_spawn(ex, watch_loop(), asio::bind_cancellation_slot(watch_cancel.slot(), [self](const std::exception_ptr&) {}));
  asio::co_spawn(ex, watchdog(), [self](const std::exception_ptr&) {});
}

asio::awaitable<void> Elector::Impl::run() {
  if (!lock) {
    log.warn("no cluster configured: assuming leadership (standalone mode, no lease)", {});
    become_leader("standalone");
    while (!stopping) co_await sleep_until(kNever);
    step_down("stopped");
    co_return;
  }
  while (!stopping) {
    if (leader) {
      co_await renew_step();
    } else {
      co_await acquire_step();
    }
  }
  co_await shutdown();
}

DecisionInput Elector::Impl::decision_input() const {
  DecisionInput in;
  in.observed = observed;
  in.exists = exists;
  in.observed_at = observed_at;
  in.now = clock->now();
  in.wall_now = clock->wall_now();
  in.identity = options.identity;
  in.lease_name = lease_name;
  in.lease_namespace = lease_namespace;
  in.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(timings.lease_duration);
  in.am_leader = leader;
  return in;
}

asio::awaitable<void> Elector::Impl::acquire_step() {
  const auto now = clock->now();
  if (need_get || (!watch_up && now >= next_poll)) {
    const bool ok = co_await refresh();
    next_poll = clock->now() + jittered(ok ? timings.follower_poll : timings.retry_period);
    if (!ok) {
      co_await sleep_until(next_poll);
      co_return;
    }
    if (stopping || leader) co_return;
  }
  const Decision d = decide(decision_input());
  if (d.action == Action::none) {
    leader_known.set();  // someone holds a live lease
    auto until = d.expires_at;
    if (!watch_up) until = std::min(until, next_poll);
    co_await sleep_until(until);
    co_return;
  }
  if (stopping) co_return;  // stop() came while we were reading: do not start acquiring
  log.debug("trying to take the lease", {{"action", to_string(d.action)}, {"reason", to_string(d.reason)}});
  const auto out = co_await write(d);
  if (!out.ok && !out.retry_now) {
    // A server's Retry-After is honoured up to the renew deadline: the lease is free or
    // expired, so every second waited is a second without a leader. A watch event (someone
    // else took it) still wakes us earlier.
    const auto asked = honoured_retry_after(out.retry_after, timings.renew_deadline);
    const auto wait = std::max<Clock::duration>(jittered(timings.retry_period), asked);
    co_await sleep_until(clock->now() + wait);
  }
}

asio::awaitable<void> Elector::Impl::renew_step() {
  const auto retry_soon = std::max<Clock::duration>(timings.retry_period / 4, milliseconds(100));
  if (clock->now() < next_renew) {
    co_await sleep_until(next_renew);
    co_return;
  }
  if (need_get) {
    if (!co_await refresh()) {
      next_renew = clock->now() + retry_soon;
      co_return;
    }
    if (!leader || stopping) co_return;
  }
  const Decision d = decide(decision_input());
  if (d.action == Action::none) {
    step_down("the lease is held by \"" + observed_holder() + "\"");
    co_return;
  }
  const auto out = co_await write(d);  // a success sets next_renew (accept_write)
  if (out.retry_now) {
    next_renew = clock->now();  // conflict: re-read at once
  } else if (!out.ok) {
    // One failure does not end leadership (the watchdog judges the deadline); retry sooner
    // than a full period so a blip costs little of the deadline's budget. A server's
    // Retry-After is honoured up to half of what is left of that budget, so there is always
    // room for another try: waiting past the deadline would be a certain step-down.
    const auto now = clock->now();
    const auto left = last_renewal.value_or(now) + timings.renew_deadline - now;
    const auto asked = honoured_retry_after(out.retry_after, std::max<Clock::duration>(left / 2, {}));
    next_renew = now + std::max<Clock::duration>(retry_soon, asked);
  }
}

// GET the Lease. Not found is an answer (the lease is gone), not a failure.
asio::awaitable<bool> Elector::Impl::refresh() {
  auto r = co_await lock->get();
  if (r) {
    need_get = false;
    observe(r.value());
    co_return true;
  }
  if (r.error().is(api::ErrorKind::not_found)) {
    need_get = false;
    if (exists) observe_deleted("");
    co_return true;
  }
  log.warn("reading the lease failed", {{"error", r.error().describe()}});
  co_return false;
}

asio::awaitable<detail::WriteOutcome> Elector::Impl::write(const Decision& d) {
  const bool renewing = leader;
  const bool creating = d.action == Action::create;
  const auto sent = clock->now();
  const auto sent_step_downs = step_downs;
  // Not a conditional expression: GCC 12 miscompiles co_await inside ?: (double destroy).
  std::optional<api::Result<api::Lease>> result;
  if (creating) {
    result.emplace(co_await lock->create(d.record));
  } else {
    result.emplace(co_await lock->update(d.record));
  }
  auto& r = *result;
  detail::WriteOutcome out;
  if (r) {
    uncertain.reset();
    accept_write(r.value(), sent, sent_step_downs);
    out.ok = true;
    co_return out;
  }
  const api::Error& err = r.error();
  if (renewing && options.observer) options.observer->on_renewal(false, clock->now() - sent);
  out.retry_after = err.retry_after;
  const char* verb = creating ? "create" : "update";
  if (err.is(api::ErrorKind::conflict)) {
    // Someone else wrote first (or the lease exists): read it and decide again.
    log.info("lease write conflicted", {{"verb", verb}, {"reason", to_string(d.reason)}});
    need_get = true;
    out.retry_now = true;
    co_return out;
  }
  log.warn("lease write failed", {{"verb", verb}, {"reason", to_string(d.reason)}, {"error", err.describe()}});
  if (err.is(api::ErrorKind::not_found)) {
    observe_deleted("");
    out.retry_now = true;
  } else if (may_have_landed(err.kind)) {
    uncertain = Pending{d.record.spec, sent, sent_step_downs};
  }
  co_return out;
}

asio::awaitable<void> Elector::Impl::shutdown() {
  // Stop believing before anything is released: a follower may take the lease within one
  // round trip of the release, and by then we must already not act as leader.
  step_down("stopping");
  const bool ours = exists && observed_holder() == options.identity;
  if (options.release_on_stop && (ours || uncertain)) {
    // A named argument: GCC 12 mishandles non-trivial temporaries inside co_await.
    std::optional<api::Lease> held;
    if (ours) held = observed;
    co_await release_lease(std::move(held));
  }
  log.info("elector stopped", {{"holder", observed_holder()}});
}

// holderIdentity "" and leaseDurationSeconds 1, as client-go's ReleaseOnCancel writes it;
// retried (after a re-read) on conflict, only while the record still names us, and only
// within the renew deadline so stop() cannot hang.
asio::awaitable<void> Elector::Impl::release_lease(std::optional<api::Lease> held) {
  const auto give_up = clock->now() + timings.renew_deadline;
  const auto retry = std::max<Clock::duration>(timings.retry_period / 4, milliseconds(100));
  while (clock->now() < give_up) {
    if (!held) {
      auto r = co_await lock->get();
      if (!r) {
        if (r.error().is(api::ErrorKind::not_found)) co_return;
        log.warn("reading the lease to release it failed", {{"error", r.error().describe()}});
        co_await sleep_on(release_timer, clock->now() + retry);
        continue;
      }
      observe(r.value());
      held = r.value();
    }
    const std::string holder = held->spec.holder_identity.value_or("");
    if (holder != options.identity) {
      log.info("nothing to release", {{"holder", holder}});
      co_return;
    }
    api::Lease released = release_record(*held, clock->wall_now());
    auto w = co_await lock->update(std::move(released));
    if (w) {
      uncertain.reset();
      observe(w.value());
      log.info("lease released", {{"transitions", w.value().spec.lease_transitions.value_or(0)}});
      co_return;
    }
    if (w.error().is(api::ErrorKind::not_found)) co_return;
    held.reset();
    if (!w.error().is(api::ErrorKind::conflict)) {
      log.warn("releasing the lease failed", {{"error", w.error().describe()}});
      co_await sleep_on(release_timer, clock->now() + retry);
    }
  }
  log.warn("gave up releasing the lease within the renew deadline; followers take over at expiry", {});
}

// Sleeps until deadline, or until wake() (a watch event, stop()).
asio::awaitable<void> Elector::Impl::sleep_until(Clock::time_point deadline) {
  if (wake_pending || stopping) {
    wake_pending = false;
    co_return;
  }
  if (deadline == kNever) {
    clock->disarm(wake_timer);
    wake_timer.expires_at(kNever);
  } else {
    clock->arm(wake_timer, deadline);
  }
  boost::system::error_code ec;
  co_await wake_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  wake_pending = false;
}

asio::awaitable<void> Elector::Impl::sleep_on(asio::steady_timer& timer, Clock::time_point deadline) {
  clock->arm(timer, deadline);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace kle::election
