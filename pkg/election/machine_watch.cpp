// The follower's watch (reconnects, 410, a stream gone quiet) and the release on stop.
#include <algorithm>

#include <kle/election/machine.hpp>

namespace kle::election {

using std::chrono::milliseconds;

std::string Machine::on_watch_opened(Clock::time_point now) {
  if (watch_backoff_ == Clock::duration{}) watch_backoff_ = retry_soon();
  watch_up_ = true;
  watch_began_ = now;
  watch_active_at_ = now;
  return watch_rv_;
}

bool Machine::on_watch_event(Clock::time_point now, const LeaseEvent& event) {
  if (stopping_) return false;
  watch_active_at_ = now;
  quiet_reconnects_ = 0;
  switch (event.type) {
    case LeaseEvent::Type::bookmark:
      if (!event.lease->resource_version.empty()) watch_rv_ = event.lease->resource_version;
      return false;
    case LeaseEvent::Type::deleted:
      observe_deleted(event.lease->resource_version);
      break;
    case LeaseEvent::Type::added:
    case LeaseEvent::Type::modified:
      observe(now, event.lease);
      break;
  }
  return true;
}

// One request: watch again from the version we hold, which replays what the silent stream
// missed (a release above all). The loop need not poll meanwhile, so it is not woken.
void Machine::on_watch_quiet(Clock::time_point now) {
  watch_up_ = false;
  ++quiet_reconnects_;
  cfg_.log.info("lease watch quiet while the lease is held; watching again",
            {{"holder", observed_holder()}, {"resource_version", watch_rv_},
             {"quiet_ms", std::chrono::duration_cast<milliseconds>(now - watch_active_at_).count()}});
}

Clock::time_point Machine::on_watch_ended(Clock::time_point now, const api::Result<void>& result) {
  watch_up_ = false;
  if (result && now - watch_began_ >= cfg_.timings.renew_interval) {
    watch_backoff_ = retry_soon();  // a stream that ran a while and ended: the server's timeout
    watch_from_now_ = false;
    return now;
  }
  const bool gone = !result && result.error().is(api::ErrorKind::gone);
  if (gone && !watch_from_now_) {
    // Not a GET and a watch from the version it returns: that is the Lease's own last
    // write, which a restarted apiserver's watch cache (or a compaction while other
    // objects changed) no longer has either, so an idle lease would 410 forever. A watch
    // without a resourceVersion starts from now and opens with the current state (ADDED).
    cfg_.log.info("watch resourceVersion too old; watching again from the current state",
              {{"resource_version", watch_rv_}});
    watch_rv_.clear();
    watch_from_now_ = true;
    return now;
  }
  if (!result) cfg_.log.warn("lease watch failed", {{"error", result.error().describe()}});
  watch_from_now_ = false;
  const auto at = now + jittered(watch_backoff_);
  watch_backoff_ = std::min<Clock::duration>(watch_backoff_ * 2, cfg_.timings.lease_duration);
  return at;
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
Clock::time_point Machine::watch_quiet_deadline() const {
  const std::string holder = observed_holder();
  if (leader_ || holder.empty() || holder == cfg_.identity) return kNever;
  const Clock::duration period =
      std::max<Clock::duration>(cfg_.timings.renew_interval, holder_cadence_.value_or(Clock::duration{}));
  Clock::duration limit = 3 * period;
  for (int i = 0; i < quiet_reconnects_ && limit < cfg_.timings.lease_duration; ++i) limit *= 2;
  return watch_active_at_ + limit;
}

void Machine::request_stop() {
  stopping_ = true;
  effect(Effect::Kind::leader_known);  // a start() waiting for a leader must not wait forever
}

// Stop believing before anything is released: a follower may take the lease within one
// round trip of the release, and by then we must already not act as leader.
void Machine::begin_shutdown(Clock::time_point now) {
  step_down("stopping");
  if (handover_ && (!notes_ || notes_->release_hint.successor.empty())) notes().release_hint = handover_->hint;  // stopped mid-drain
  handover_.reset();
  const bool ours = exists_ && observed_holder() == cfg_.identity;
  releasing_ = cfg_.release_on_stop && (ours || uncertain_);
  release_ = std::make_unique<Release>();
  if (ours) release_->held = *observed_;
  release_->give_up = now + cfg_.timings.renew_deadline;
}

// holderIdentity "" and leaseDurationSeconds 1, as client-go's ReleaseOnCancel writes it;
// retried (after a re-read) on conflict, only while the record still names us, and only
// within the renew deadline so stop() cannot hang.
ReleaseStep Machine::next_release(Clock::time_point now, api::MicroTime wall_now) {
  ReleaseStep step;
  if (!release_) releasing_ = false;  // begin_shutdown() not called: nothing to release
  if (releasing_ && release_->pause) {
    step.kind = ReleaseStep::Kind::sleep;
    step.until = *std::exchange(release_->pause, std::nullopt);
    return step;
  }
  if (releasing_ && now >= release_->give_up) {
    cfg_.log.warn("gave up releasing the lease within the renew deadline; followers take over at expiry", {});
    releasing_ = false;
  }
  if (releasing_ && !release_->held) {
    step.kind = ReleaseStep::Kind::read;
    return step;
  }
  if (releasing_) {
    const std::string holder = release_->held->spec.holder_identity.value_or("");
    if (holder == cfg_.identity) {
      step.kind = ReleaseStep::Kind::write;
      step.record = handover_record(*release_->held, wall_now, notes_ ? notes_->release_hint : HandoverHint{});
      return step;
    }
    cfg_.log.info("nothing to release", {{"holder", holder}});
    releasing_ = false;
  }
  cfg_.log.info("elector stopped", {{"holder", observed_holder()}});
  return step;
}

void Machine::on_release_read(Clock::time_point now, const api::Result<api::Lease>& result) {
  if (result) {
    observe(now, std::make_shared<const api::Lease>(result.value()));
    if (release_) release_->held = result.value();
  } else if (result.error().is(api::ErrorKind::not_found)) {
    releasing_ = false;
  } else {
    cfg_.log.warn("reading the lease to release it failed", {{"error", result.error().describe()}});
    if (release_) release_->pause = now + retry_soon();
  }
}

void Machine::on_release_write(Clock::time_point now, const api::Result<api::Lease>& result) {
  if (result) {
    uncertain_.reset();
    observe(now, std::make_shared<const api::Lease>(result.value()));
    cfg_.log.info("lease released", {{"transitions", result.value().spec.lease_transitions.value_or(0)}});
    releasing_ = false;
    return;
  }
  if (result.error().is(api::ErrorKind::not_found)) {
    releasing_ = false;
    return;
  }
  if (!release_) return;
  release_->held.reset();
  if (!result.error().is(api::ErrorKind::conflict)) {
    cfg_.log.warn("releasing the lease failed", {{"error", result.error().describe()}});
    release_->pause = now + retry_soon();
  }
}

}  // namespace kle::election
