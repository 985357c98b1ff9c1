// The machine's bookkeeping: what it concludes from each observed record and each
// confirmed write, and the leadership changes that follow. The loop's phases are in
// machine_steps.cpp, the watch and the release in machine_watch.cpp.
#include <algorithm>
#include <charconv>
#include <functional>
#include <utility>

#include <kle/election/machine.hpp>

namespace kle::election {

namespace {

// resourceVersions are opaque, but the apiserver's are etcd revisions; when both parse we
// use the order to drop a watch event older than a write response we already hold.
bool older_version(const std::string& a, const std::string& b) {
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  const auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  const auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec != std::errc() || rb.ec != std::errc() || ra.ptr != a.data() + a.size() ||
      rb.ptr != b.data() + b.size()) {
    return false;
  }
  return x < y;
}

}  // namespace

Machine::Machine(MachineConfig config)
    : cfg_(std::move(config)), rng_(static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(cfg_.identity))) {}

std::vector<Effect> Machine::take_effects() { return std::exchange(effects_, {}); }

void Machine::effect(Effect::Kind kind, bool flag) {
  Effect e;
  e.kind = kind;
  e.flag = flag;
  effects_.push_back(std::move(e));
}

// The payload is the state at this moment, as the subscribers would have read it.
void Machine::emit(Event event) {
  Effect e;
  e.kind = Effect::Kind::emit;
  e.event = event;
  e.state = state();
  effects_.push_back(std::move(e));
}

LeaseState Machine::state() const {
  LeaseState s;
  if (cfg_.standalone) {
    s.holder = leader_ ? cfg_.identity : std::string();
    s.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(cfg_.timings.lease_duration);
    return s;
  }
  if (!observed_) return s;
  s.holder = observed_->spec.holder_identity.value_or("");
  s.transitions = observed_->spec.lease_transitions.value_or(0);
  s.acquire_time = observed_->spec.acquire_time;
  s.renew_time = observed_->spec.renew_time;
  s.lease_duration = std::chrono::seconds(observed_->spec.lease_duration_seconds.value_or(0));
  return s;
}

std::int64_t Machine::epoch() const noexcept {
  return observed_ ? observed_->spec.lease_transitions.value_or(0) : 0;
}

std::string Machine::observed_holder() const {
  return (observed_ && exists_) ? observed_->spec.holder_identity.value_or("") : std::string();
}

// client-go's wait.Jitter: d + rand[0,1) x jitter x d.
Clock::duration Machine::jittered(Clock::duration d) {
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  const double extra = dist(rng_) * cfg_.timings.jitter * static_cast<double>(d.count());
  return d + Clock::duration(static_cast<Clock::duration::rep>(extra));
}

// Only the pace of the quiet-watch detector depends on this: two renewTimes of one holder
// are compared with each other (never with our clock), clamped, and never judge expiry.
void Machine::learn_cadence(const api::Lease& lease) {
  if (!observed_ || !exists_ || observed_holder() != lease.spec.holder_identity.value_or("")) {
    holder_cadence_.reset();  // a new holder: its cadence is not known yet
    return;
  }
  const auto& before = observed_->spec.renew_time;
  const auto& after = lease.spec.renew_time;
  if (!before || !after || *after <= *before) return;
  const auto cap = std::chrono::duration_cast<std::chrono::microseconds>(cfg_.timings.lease_duration);
  const Clock::duration gap = std::min<std::chrono::microseconds>(*after - *before, cap);
  if (!holder_cadence_ || gap < *holder_cadence_) holder_cadence_ = gap;
}

void Machine::observe(Clock::time_point now, LeasePtr observed) {  // NOLINT(performance-unnecessary-value-param)
  const api::Lease& lease = *observed;  // the parameter keeps it alive to the end
  if (observed_ && exists_ && older_version(lease.resource_version, observed_->resource_version)) return;
  learn_cadence(lease);
  const bool changed = !observed_ || !exists_ || observed_->spec != lease.spec;
  // new_leader goes out whenever the holder differs from the last one observed (a deleted
  // Lease's tombstone included): that is the last one reported, with no copy kept for it.
  const bool new_holder =
      !observed_ || observed_->spec.holder_identity.value_or("") != lease.spec.holder_identity.value_or("");
  observed_ = observed;
  exists_ = true;
  if (!lease.resource_version.empty()) watch_rv_ = lease.resource_version;
  if (changed) observed_at_ = now;
  Effect seen;
  seen.kind = Effect::Kind::observed_transitions;
  seen.transitions = lease.spec.lease_transitions.value_or(0);
  effects_.push_back(std::move(seen));

  const std::string holder = lease.spec.holder_identity.value_or("");
  if (new_holder) {
    cfg_.log.info("new leader observed", {{"holder", holder}, {"transitions", lease.spec.lease_transitions.value_or(0)}});
    emit(Event::new_leader);
  }
  if (uncertain_ && lease.spec == uncertain_->spec) {
    const Sent landed = *uncertain_;
    adopt_landed(now, observed_, landed);
    return;
  }
  if (leader_ && holder != cfg_.identity) step_down("the lease is now held by \"" + holder + "\"");
  // An operator named another preferred holder while we lead: hand over to it.
  if (leader_) {
    const auto preferred = api::lease_annotation(lease, kPreferredHolderAnnotation);
    if (preferred && !preferred->empty() && *preferred != cfg_.identity) {
      hand_over(now, HandoverHint{*preferred, std::string()});
    }
  }
}

// A deleted Lease carries nobody's claim: an elector that never saw the old record may
// create a new one at once. So the leader stops believing now and re-creates the lease
// (followers that saw our record wait its term out, so we normally win it straight back).
void Machine::observe_deleted(const std::string& resource_version) {
  exists_ = false;
  if (!resource_version.empty()) watch_rv_ = resource_version;
  cfg_.log.warn("lease deleted", {{"holder", observed_ ? observed_->spec.holder_identity.value_or("") : std::string()}});
  step_down("the lease was deleted");
}

// A write whose answer never came (uncertain_, or one given up on just now) shows in `lease`:
// it landed, and counts from when it was sent.
void Machine::adopt_landed(Clock::time_point now, LeasePtr lease, const Sent& sent) {
  uncertain_.reset();
  cfg_.log.info("an unconfirmed write turned out to have succeeded", {{"holder", lease->spec.holder_identity.value_or("")}});
  accept_write(now, std::move(lease), sent);
}

// A write landed. It counts as a renewal only if it was sent within the renew deadline:
// later than that, followers may already be counting down from an older record.
void Machine::accept_write(Clock::time_point now, LeasePtr written_ptr,  // NOLINT(performance-unnecessary-value-param)
                           const Sent& sent) {
  const api::Lease& written = *written_ptr;  // the parameter keeps it alive to the end
  observe(now, written_ptr);
  if (stopping_) return;  // the shutdown releases a record that names us
  if (now - sent.at >= cfg_.timings.renew_deadline) {
    if (leader_) step_down("a renewal confirmed only after the renew deadline");
    cfg_.log.warn("write confirmed too late to lead; waiting the term out", {});
    return;
  }
  if (observed_holder() != cfg_.identity) return;
  if (sent.step_downs != step_downs_) {
    // Sent before we gave leadership up (a renewal that stalled past the deadline and landed
    // unseen, or whose answer came late). Crediting it from its send time would be safe,
    // but it takes back what we gave up a moment ago: lost then acquired within a round
    // trip, a workload stopped and started, two transitions counted. So it is not credited:
    // the record names a stale self, and decide() makes us wait its term out like every
    // other follower (from when we saw it). Re-writing it at once instead would also be
    // safe, and would be the same flap. Leadership comes back only through a write sent
    // after the step-down, once the term is over, and then any follower may win it.
    if (!leader_) cfg_.log.info("a write sent before stepping down landed; not taking leadership back", {});
    return;
  }
  last_renewal_ = sent.at;
  next_renew_ = sent.at + cfg_.timings.renew_interval;
  Effect renewed;
  renewed.kind = Effect::Kind::renewal;
  renewed.flag = true;
  renewed.latency = now - sent.at;
  effects_.push_back(std::move(renewed));
  if (!leader_) {
    become_leader("acquired");
  } else {
    cfg_.log.debug("lease renewed", {{"holder", cfg_.identity},
                                 {"transitions", written.spec.lease_transitions.value_or(0)}});
    emit(Event::lease_renewed);
  }
}

void Machine::become_leader(const char* how) {
  leader_ = true;
  effect(Effect::Kind::leader_known);
  cfg_.log.info("leadership acquired", {{"holder", cfg_.identity}, {"transitions", epoch()}, {"how", how}});
  effect(Effect::Kind::leadership, true);
  emit(Event::leadership_acquired);
}

void Machine::step_down(const std::string& why) {
  if (!leader_) return;
  leader_ = false;
  ++step_downs_;
  // Queued before the log line: a logger that throws must not swallow leadership_lost.
  effect(Effect::Kind::leadership, false);
  emit(Event::leadership_lost);
  cfg_.log.warn("leadership lost", {{"holder", observed_holder()}, {"transitions", epoch()}, {"why", why}});
}

void Machine::fail_closed() {
  const bool was_leader = leader_;
  leader_ = false;  // first: nothing above can throw, so this always happens
  stopping_ = true;
  if (!was_leader) return;
  ++step_downs_;
  effect(Effect::Kind::leadership, false);
  emit(Event::leadership_lost);
}

void Machine::lead_standalone() {
  cfg_.log.warn("no cluster configured: assuming leadership (standalone mode, no lease)", {});
  become_leader("standalone");
}

void Machine::stop_standalone() { step_down("stopped"); }

}  // namespace kle::election
