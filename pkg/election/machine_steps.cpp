// The loop's phases. A follower reads the Lease (at start, after a conflict, or by poll
// while the watch is down), decides on the record it holds and sleeps until local expiry
// or a watch event; the leader PUTs its cached record every renew interval and reads only
// after a conflict. Every wait and retry rule of the loop is here, as data.
#include <algorithm>

#include <kle/election/machine.hpp>

namespace kle::election {

using std::chrono::milliseconds;

namespace {

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

LoopStep sleep_step(Clock::time_point until) {
  LoopStep s;
  s.kind = LoopStep::Kind::sleep;
  s.until = until;
  return s;
}

LoopStep kind_step(LoopStep::Kind kind) {
  LoopStep s;
  s.kind = kind;
  return s;
}

}  // namespace

Clock::duration Machine::retry_soon() const {
  return std::max<Clock::duration>(cfg_.timings.renew_interval / 4, milliseconds(100));
}

DecisionInput Machine::decision_input(Clock::time_point now, api::MicroTime wall_now) const {
  DecisionInput in;
  if (observed_) in.observed = *observed_;
  in.exists = exists_;
  in.observed_at = observed_at_;
  in.now = now;
  in.wall_now = wall_now;
  in.identity = cfg_.identity;
  in.lease_name = cfg_.lease_name;
  in.lease_namespace = cfg_.lease_namespace;
  in.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(cfg_.timings.lease_duration);
  in.am_leader = leader_;
  in.revision = cfg_.revision;
  if (notes_) in.newest_revision = notes_->newest_revision;
  in.handover_grace = cfg_.handover_grace;
  in.older_grace = cfg_.older_grace;
  return in;
}

LoopStep Machine::next(Clock::time_point now, api::MicroTime wall_now) {
  if (stopping_) return kind_step(LoopStep::Kind::shutdown);
  if (cfg_.standalone) return sleep_step(kNever);
  if (pause_) return sleep_step(*std::exchange(pause_, std::nullopt));
  if (handover_) return handover_step(now, wall_now);
  if (resigned_) return sleep_step(kNever);  // stop() releases the record that names us
  return leader_ ? renew_step(now, wall_now) : acquire_step(now, wall_now);
}

LoopStep Machine::acquire_step(Clock::time_point now, api::MicroTime wall_now) {
  if (need_get_ || (!watch_up_ && now >= next_poll_)) {
    read_renewing_ = false;
    return kind_step(LoopStep::Kind::read);
  }
  LoopStep step;
  step.decision = decide(decision_input(now, wall_now));
  if (step.decision.action == Action::none) {
    effect(Effect::Kind::leader_known);  // someone holds a live lease
    // While the watch is down we poll; while it is up, its events wake us.
    return sleep_step(watch_up_ ? step.decision.expires_at : std::min(step.decision.expires_at, next_poll_));
  }
  cfg_.log.debug("trying to take the lease",
             {{"action", to_string(step.decision.action)}, {"reason", to_string(step.decision.reason)}});
  step.kind = LoopStep::Kind::write;
  in_flight_ = Sent{step.decision.record.spec, step.decision.action, step.decision.reason, now, step_downs_, false};
  return step;
}

LoopStep Machine::renew_step(Clock::time_point now, api::MicroTime wall_now) {
  if (now < next_renew_) return sleep_step(next_renew_);
  if (need_get_) {
    read_renewing_ = true;
    return kind_step(LoopStep::Kind::read);
  }
  LoopStep step;
  step.decision = decide(decision_input(now, wall_now));
  if (step.decision.action == Action::none) {
    step_down("the lease is held by \"" + observed_holder() + "\"");
    return acquire_step(now, wall_now);
  }
  step.kind = LoopStep::Kind::write;
  in_flight_ = Sent{step.decision.record.spec, step.decision.action, step.decision.reason, now, step_downs_, true};
  return step;
}

// A GET. Not found is an answer (the lease is gone), not a failure.
void Machine::on_read(Clock::time_point now, const api::Result<api::Lease>& result) {
  bool ok = true;
  if (result) {
    need_get_ = false;
    observe(now, std::make_shared<const api::Lease>(result.value()));
  } else if (result.error().is(api::ErrorKind::not_found)) {
    need_get_ = false;
    if (exists_) observe_deleted("");
  } else {
    cfg_.log.warn("reading the lease failed", {{"error", result.error().describe()}});
    ok = false;
  }
  if (read_renewing_) {
    if (!ok) next_renew_ = now + retry_soon();
    return;
  }
  next_poll_ = now + jittered(ok ? cfg_.timings.follower_poll : cfg_.timings.renew_interval);
  if (!ok) pause_ = next_poll_;
}

void Machine::on_write(Clock::time_point now, const api::Result<api::Lease>& result) {
  if (!in_flight_) return;
  if (handover_writing_ && handover_) {
    on_handover_write(now, result);
    return;
  }
  const Sent sent = *in_flight_;
  in_flight_.reset();
  if (result) {
    uncertain_.reset();
    accept_write(now, std::make_shared<const api::Lease>(result.value()), sent);
    return;
  }
  on_write_failed(now, result.error(), sent);
}

void Machine::on_write_failed(Clock::time_point now, const api::Error& err, const Sent& sent) {
  // A write whose answer we gave up on (a timeout, a torn connection) may already have shown
  // up on the watch while it was in flight: then it landed, and it counts from its send time
  // now, not after one more round trip. Found by the chaos campaign on a loaded machine: a
  // renewal held 3 s by a slow proxy landed at once, but its retry (1 s interval + 2 s
  // timeout + the retry's wait and round trip) answered 300 ms after the 4 s renew deadline,
  // and the leader stepped down from a lease the apiserver showed it held all along.
  if (!err.is(api::ErrorKind::conflict) && may_have_landed(err.kind) && exists_ && observed_ &&
      observed_->spec == sent.spec) {
    adopt_landed(now, observed_, sent);  // by value: accept_write() observes it again
    return;
  }
  if (sent.renewing) {
    Effect failed;
    failed.kind = Effect::Kind::renewal;
    failed.latency = now - sent.at;
    effects_.push_back(std::move(failed));
  }
  const char* verb = sent.action == Action::create ? "create" : "update";
  bool retry_now = false;
  if (err.is(api::ErrorKind::conflict)) {
    // Someone else wrote first (or the lease exists): read it and decide again.
    cfg_.log.info("lease write conflicted", {{"verb", verb}, {"reason", to_string(sent.reason)}});
    need_get_ = true;
    retry_now = true;
  } else {
    cfg_.log.warn("lease write failed", {{"verb", verb}, {"reason", to_string(sent.reason)}, {"error", err.describe()}});
    if (err.is(api::ErrorKind::not_found)) {
      observe_deleted("");
      retry_now = true;
    } else if (may_have_landed(err.kind)) {
      uncertain_ = sent;
    }
  }
  if (!sent.renewing) {
    if (retry_now) return;
    // A server's Retry-After is honoured up to the renew deadline: the lease is free or
    // expired, so every second waited is a second without a leader. A watch event (someone
    // else took it) still wakes us earlier.
    const auto asked = honoured_retry_after(err.retry_after, cfg_.timings.renew_deadline);
    pause_ = now + std::max<Clock::duration>(jittered(cfg_.timings.renew_interval), asked);
    return;
  }
  if (retry_now) {
    next_renew_ = now;  // conflict: re-read at once
    return;
  }
  // One failure does not end leadership (the renew deadline does); retry sooner than a
  // full period so a blip costs little of the deadline's budget. A server's Retry-After
  // is honoured up to half of what is left of that budget, so there is always room for
  // another try: waiting past the deadline would be a certain step-down.
  const auto left = last_renewal_.value_or(now) + cfg_.timings.renew_deadline - now;
  const auto asked = honoured_retry_after(err.retry_after, std::max<Clock::duration>(left / 2, {}));
  next_renew_ = now + std::max<Clock::duration>(retry_soon(), asked);
}

Clock::time_point Machine::leadership_deadline() const {
  if (!leader_ || !last_renewal_) return kNever;
  return *last_renewal_ + cfg_.timings.renew_deadline;
}

// The leader stops believing the moment its renew deadline passes, even mid-request.
void Machine::on_leadership_deadline(Clock::time_point now) {
  if (now < leadership_deadline()) return;
  step_down("no successful renewal within the renew deadline (" +
            std::to_string(cfg_.timings.renew_deadline.count()) + "ms)");
}

}  // namespace kle::election
