#pragma once
// The pure decision step, in the spirit of client-go's tryAcquireOrRenew: given what this
// process last saw of the Lease and its own clocks, say what to write (or that the lease is
// someone else's). No I/O, no state: the elector carries out the answer.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <kle/api/lease.hpp>
#include <kle/api/microtime.hpp>
#include <kle/election/clock.hpp>

namespace kle::election {

// Handover hints on the Lease (docs/HANDOVER.md). client-go and the Node elector ignore
// them; they only make our own followers hold back for a bounded grace.
// The pod (holder identity) that should take the lease next: written by a leader that hands
// over, or by an operator (`kubectl annotate lease ... kube-leader-elector.io/preferred-holder=POD`).
inline constexpr const char* kPreferredHolderAnnotation = "kube-leader-elector.io/preferred-holder";
// The newest revision (pod-template-hash) a handing-over leader saw Ready; followers of
// another revision hold back an extra grace before taking a free or expired lease.
inline constexpr const char* kNewestRevisionAnnotation = "kube-leader-elector.io/newest-revision";

struct DecisionInput {
  // The Lease as last seen. With exists == false it is the record seen before the Lease was
  // deleted (a tombstone), or nullopt when this process never saw one.
  std::optional<api::Lease> observed;
  bool exists = false;
  // Monotonic time when this process last saw the record's spec change. Expiry is judged
  // only from this (observed_at + the holder's leaseDurationSeconds), never from renewTime.
  Clock::time_point observed_at{};
  Clock::time_point now{};
  api::MicroTime wall_now{};  // only ever written, never compared
  std::string_view identity;
  std::string_view lease_name;       // used when creating
  std::string_view lease_namespace;  // used when creating
  std::chrono::seconds lease_duration{0};  // ours: written into every record
  bool am_leader = false;
  // Handover (docs/HANDOVER.md). A free or expired lease whose record names another
  // preferred holder is taken only handover_grace after it became free by our clock; one
  // whose newest-revision differs from ours (when ours is known) older_grace later still.
  std::string_view revision;
  // What the leader last saw as the newest revision with a Ready pod (empty: unknown). A
  // renewal records it as newest-revision, so that after a crash mid-rollout, before any
  // handover has recorded it, older followers still hold back (docs/HANDOVER.md).
  std::string_view newest_revision;
  Clock::duration handover_grace{};
  Clock::duration older_grace{};
};

enum class Action { create, update, none };

enum class Reason {
  created,        // no Lease (or a deleted one whose holder's term is over): create it
  renewed,        // we hold it and lead: renew
  released,       // holderIdentity empty: free at once
  expired,        // the holder did not renew within its duration, by our monotonic clock
  held,           // another holder (or a stale record naming us) whose term is not over
  yielding,       // free or expired, but we hold back for a preferred holder or a newer revision
};
const char* to_string(Action a) noexcept;
const char* to_string(Reason r) noexcept;

struct Decision {
  Action action = Action::none;
  Reason reason = Reason::held;
  api::Lease record;  // what to write (create/update); the observed record for none
  // For none: when the holder's term (or our hold-back) ends by our monotonic clock.
  Clock::time_point expires_at{};
};

Decision decide(const DecisionInput& in);

// The holder's term as written in the record; our own duration when absent or not positive
// (waiting our own duration is the safe reading of a record that does not say).
std::chrono::seconds holder_duration(const api::Lease& lease, std::chrono::seconds fallback);

// The record client-go writes on release: holderIdentity "", leaseDurationSeconds 1 so any
// follower may take over at once, leaseTransitions kept, times set to now.
api::Lease release_record(const api::Lease& held, api::MicroTime wall_now);

// How long we hold back from a free or expired record (zero: take it at once). Never more
// than handover_grace + older_grace: a dead or unknown preferred holder cannot stall it longer.
Clock::duration hold_back(const DecisionInput& in, const api::Lease& observed);

}  // namespace kle::election
