#include <kle/election/decision.hpp>

#include <limits>

namespace kle::election {

const char* to_string(Action a) noexcept {
  switch (a) {
    case Action::create: return "create";
    case Action::update: return "update";
    case Action::none: return "none";
  }
  return "unknown";
}

const char* to_string(Reason r) noexcept {
  switch (r) {
    case Reason::created: return "created";
    case Reason::renewed: return "renewed";
    case Reason::released: return "released";
    case Reason::expired: return "expired";
    case Reason::held: return "held";
    case Reason::yielding: return "yielding";
  }
  return "unknown";
}

std::chrono::seconds holder_duration(const api::Lease& lease, std::chrono::seconds fallback) {
  const auto& d = lease.spec.lease_duration_seconds;
  return (d && *d > 0) ? std::chrono::seconds(*d) : fallback;
}

namespace {

int transitions_of(const api::Lease& lease) { return lease.spec.lease_transitions.value_or(0); }

// leaseTransitions is an int32 that anyone with RBAC can hand-edit, INT32_MAX included.
// It saturates there: the epoch is a fencing token and must never go backwards (a wrap to
// INT32_MIN would hand out the smallest token ever), and refusing to take over would block
// the election for good. A saturated epoch no longer tells holders apart; nothing can.
int next_transitions(const api::Lease& previous, bool new_holder) {
  const int t = transitions_of(previous);
  return (new_holder && t < std::numeric_limits<int>::max()) ? t + 1 : t;
}

// The spec we write: a transition is counted only when the holder actually changes (a
// record that already names us is not a new holder); acquireTime is kept only by a renewal.
api::LeaseSpec acquired_spec(const DecisionInput& in, const std::optional<api::Lease>& previous) {
  api::LeaseSpec spec;
  spec.holder_identity = std::string(in.identity);
  spec.lease_duration_seconds = static_cast<int>(in.lease_duration.count());
  spec.acquire_time = in.wall_now;
  spec.renew_time = in.wall_now;
  spec.lease_transitions = 0;
  if (previous) {
    const bool same_holder = previous->spec.holder_identity.value_or("") == in.identity;
    spec.lease_transitions = next_transitions(*previous, !same_holder);
    if (same_holder && in.am_leader && previous->spec.acquire_time) spec.acquire_time = previous->spec.acquire_time;
  }
  return spec;
}

// Every acquisition and renewal drops the preferred-holder hint: taken by the named pod it
// has served, taken by anyone else after the grace it has expired, and a leader renews only
// when the hint names nobody else (the machine hands over instead).
// An acquisition by a pod whose revision is not the recorded newest one happens only after
// older_grace, when no pod of that revision took the lease: the record is stale (that
// revision is gone, say a rollout undone while its pods crashed). The winner's revision
// replaces it, or every later crash failover would pay older_grace for as long as the Lease
// lives. A leader's renewal records the newest revision it saw Ready (its controller lists
// the pods each reconcile round), so the record exists, and stays true, before any handover:
// a leader that crashes mid-rollout leaves older followers holding back too.
api::Lease written(const DecisionInput& in, const api::Lease& base, api::LeaseSpec spec, bool acquisition) {
  api::Lease out = base;
  out.spec = std::move(spec);
  if (api::lease_annotation(out, kPreferredHolderAnnotation)) {
    api::set_lease_annotation(out, kPreferredHolderAnnotation, std::nullopt);
  }
  const auto newest = api::lease_annotation(out, kNewestRevisionAnnotation);
  if (acquisition && !in.revision.empty() && newest && !newest->empty() && *newest != in.revision) {
    api::set_lease_annotation(out, kNewestRevisionAnnotation, std::string(in.revision));
  } else if (!acquisition && !in.newest_revision.empty() && newest != in.newest_revision) {
    api::set_lease_annotation(out, kNewestRevisionAnnotation, std::string(in.newest_revision));
  }
  return out;
}

}  // namespace

Clock::duration hold_back(const DecisionInput& in, const api::Lease& observed) {
  const auto preferred = api::lease_annotation(observed, kPreferredHolderAnnotation);
  if (preferred && *preferred == in.identity) return Clock::duration::zero();
  Clock::duration d{};
  if (preferred && !preferred->empty()) d += in.handover_grace;
  const auto newest = api::lease_annotation(observed, kNewestRevisionAnnotation);
  if (!in.revision.empty() && newest && !newest->empty() && *newest != in.revision) d += in.older_grace;
  return d;
}

Decision decide(const DecisionInput& in) {
  Decision out;
  const std::string holder = in.observed ? in.observed->spec.holder_identity.value_or("") : std::string();
  const auto term_end = in.observed ? in.observed_at + holder_duration(*in.observed, in.lease_duration)
                                    : in.now;
  const bool expired = in.now >= term_end;

  // 1. No Lease: create it, unless it was deleted while another holder's term still runs
  //    (deleting the object must not shorten the holder's term). The epoch carries over
  //    from the deleted record so fencing tokens never go backwards.
  if (!in.exists) {
    if (in.observed && !holder.empty() && holder != in.identity && !expired) {
      out.record = *in.observed;
      out.expires_at = term_end;
      return out;
    }
    out.action = Action::create;
    out.reason = Reason::created;
    out.record.name = std::string(in.lease_name);
    out.record.namespace_ = std::string(in.lease_namespace);
    out.record.spec = acquired_spec(in, in.observed);
    return out;
  }

  // 2. We lead and the record still names us: renew, keeping acquireTime and the epoch.
  const api::Lease& observed = *in.observed;
  out.record = observed;
  if (in.am_leader && holder == in.identity) {
    out.action = Action::update;
    out.reason = Reason::renewed;
    out.record = written(in, observed, acquired_spec(in, observed), false);
    return out;
  }

  // 3. Released (holderIdentity empty): free at once, whatever leaseDurationSeconds says,
  //    unless a handover hint makes us hold back (bounded) from when we saw the release.
  if (holder.empty()) {
    if (const auto free_at = in.observed_at + hold_back(in, observed); in.now < free_at) {
      out.reason = Reason::yielding;
      out.expires_at = free_at;
      return out;
    }
    out.action = Action::update;
    out.reason = Reason::released;
    out.record = written(in, observed, acquired_spec(in, observed), true);
    return out;
  }

  // 4. Held, and not expired by our monotonic clock since the record last changed. This
  //    includes a record naming us while we do not lead (we stepped down, or restarted):
  //    we wait its term out like everyone else rather than assume our old term is live.
  if (!expired) {
    out.expires_at = term_end;
    return out;
  }

  // 5. Expired: take it over, after the same bounded hold-back from the end of the term.
  if (const auto free_at = term_end + hold_back(in, observed); in.now < free_at) {
    out.reason = Reason::yielding;
    out.expires_at = free_at;
    return out;
  }
  out.action = Action::update;
  out.reason = Reason::expired;
  out.record = written(in, observed, acquired_spec(in, observed), true);
  return out;
}

api::Lease release_record(const api::Lease& held, api::MicroTime wall_now) {
  api::Lease out = held;
  out.spec.holder_identity = std::string();
  out.spec.lease_duration_seconds = 1;
  out.spec.acquire_time = wall_now;
  out.spec.renew_time = wall_now;
  out.spec.lease_transitions = transitions_of(held);
  return out;
}

}  // namespace kle::election
