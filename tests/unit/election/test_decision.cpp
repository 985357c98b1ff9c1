// The decision table: every branch of decide(), with the record it writes.
#include <catch2/catch.hpp>

#include <limits>

#include <kle/election/decision.hpp>
#include "instants.hpp"

using namespace kle;
using namespace kle::election;
using namespace std::chrono_literals;
using kle::testing::kT0;
using kle::testing::kWall;

namespace {

api::Lease held_by(const std::string& holder, int duration_s = 15, int transitions = 3) {
  api::Lease l;
  l.name = "the-lease";
  l.namespace_ = "default";
  l.resource_version = "42";
  l.uid = "uid-1";
  l.spec.holder_identity = holder;
  l.spec.lease_duration_seconds = duration_s;
  l.spec.acquire_time = kWall - 3600s;
  l.spec.renew_time = kWall - 3600s;  // an hour old by our wall clock: must not matter
  l.spec.lease_transitions = transitions;
  return l;
}

DecisionInput input(std::optional<api::Lease> observed, bool exists, Clock::duration since_change,
                    bool am_leader = false) {
  DecisionInput in;
  in.observed = std::move(observed);
  in.exists = exists;
  in.observed_at = kT0;
  in.now = kT0 + since_change;
  in.wall_now = kWall;
  in.identity = "me";
  in.lease_name = "the-lease";
  in.lease_namespace = "default";
  in.lease_duration = 15s;
  in.am_leader = am_leader;
  return in;
}

}  // namespace

TEST_CASE("decide 1: no lease -> create a fresh record with every field written") {
  const auto d = decide(input(std::nullopt, false, 0s));
  CHECK(d.action == Action::create);
  CHECK(d.reason == Reason::created);
  CHECK(d.record.name == "the-lease");
  CHECK(d.record.namespace_ == "default");
  CHECK(d.record.resource_version.empty());
  CHECK(d.record.spec.holder_identity == "me");
  CHECK(d.record.spec.lease_duration_seconds == 15);
  CHECK(d.record.spec.acquire_time == kWall);
  CHECK(d.record.spec.renew_time == kWall);
  CHECK(d.record.spec.lease_transitions == 0);
}

TEST_CASE("decide 1: a deleted lease whose holder's term still runs is waited out") {
  const auto d = decide(input(held_by("other"), false, 14s));
  CHECK(d.action == Action::none);
  CHECK(d.reason == Reason::held);
  CHECK(d.expires_at == kT0 + 15s);
}

TEST_CASE("decide 1: a deleted lease is re-created once the term is over, the epoch carried over") {
  const auto d = decide(input(held_by("other"), false, 15s));
  CHECK(d.action == Action::create);
  CHECK(d.record.resource_version.empty());
  CHECK(d.record.uid.empty());
  CHECK(d.record.spec.lease_transitions == 4);

  // Our own deleted record (we lead): re-create at once, same epoch, same acquireTime.
  const auto mine = decide(input(held_by("me"), false, 1s, true));
  CHECK(mine.action == Action::create);
  CHECK(mine.record.spec.lease_transitions == 3);
  CHECK(mine.record.spec.acquire_time == kWall - 3600s);
}

TEST_CASE("decide 2: the leader renews, keeping acquireTime and leaseTransitions") {
  const auto d = decide(input(held_by("me"), true, 2s, true));
  CHECK(d.action == Action::update);
  CHECK(d.reason == Reason::renewed);
  CHECK(d.record.resource_version == "42");  // conditional on what we hold
  CHECK(d.record.uid == "uid-1");
  CHECK(d.record.spec.acquire_time == kWall - 3600s);
  CHECK(d.record.spec.renew_time == kWall);
  CHECK(d.record.spec.lease_transitions == 3);
  CHECK(d.record.spec.lease_duration_seconds == 15);
}

TEST_CASE("decide 3: a released lease is free at once and counts a transition") {
  auto released = held_by("", 1);
  const auto d = decide(input(released, true, 0s));
  CHECK(d.action == Action::update);
  CHECK(d.reason == Reason::released);
  CHECK(d.record.spec.holder_identity == "me");
  CHECK(d.record.spec.lease_transitions == 4);
  CHECK(d.record.spec.lease_duration_seconds == 15);  // ours, not the released 1
  CHECK(d.record.spec.acquire_time == kWall);
}

TEST_CASE("decide 4: held and not expired by our monotonic clock -> none, wake at expiry") {
  const auto d = decide(input(held_by("other"), true, 14999ms));
  CHECK(d.action == Action::none);
  CHECK(d.reason == Reason::held);
  CHECK(d.expires_at == kT0 + 15s);
  CHECK(d.record.spec.holder_identity == "other");
}

TEST_CASE("decide 4: expiry uses the holder's leaseDurationSeconds, not ours") {
  CHECK(decide(input(held_by("other", 5), true, 4s)).action == Action::none);
  CHECK(decide(input(held_by("other", 5), true, 5s)).reason == Reason::expired);
  CHECK(decide(input(held_by("other", 60), true, 30s)).action == Action::none);
  // A record that does not say is read with our own duration (the safe reading).
  auto unsaid = held_by("other");
  unsaid.spec.lease_duration_seconds.reset();
  CHECK(decide(input(unsaid, true, 14s)).action == Action::none);
  CHECK(decide(input(unsaid, true, 15s)).action == Action::update);
}

TEST_CASE("decide 4: renewTime far in the past or future by our wall clock changes nothing") {
  auto future = held_by("other");
  future.spec.renew_time = kWall + 24h;
  CHECK(decide(input(future, true, 15s)).reason == Reason::expired);
  auto past = held_by("other");
  past.spec.renew_time = kWall - 24h;
  CHECK(decide(input(past, true, 1s)).action == Action::none);
}

TEST_CASE("decide 4: a record naming us while we do not lead is waited out, like any holder") {
  const auto d = decide(input(held_by("me"), true, 10s, false));
  CHECK(d.action == Action::none);
  const auto later = decide(input(held_by("me"), true, 15s, false));
  CHECK(later.action == Action::update);
  CHECK(later.reason == Reason::expired);
  CHECK(later.record.spec.lease_transitions == 3);   // same holder: not a transition
  CHECK(later.record.spec.acquire_time == kWall);    // but a new acquisition
}

TEST_CASE("decide 5: an expired lease is taken over with one more transition") {
  const auto d = decide(input(held_by("other"), true, 15s));
  CHECK(d.action == Action::update);
  CHECK(d.reason == Reason::expired);
  CHECK(d.record.resource_version == "42");
  CHECK(d.record.spec.holder_identity == "me");
  CHECK(d.record.spec.lease_transitions == 4);
  CHECK(d.record.spec.acquire_time == kWall);
  CHECK(d.record.spec.renew_time == kWall);
}

TEST_CASE("decide: a missing leaseTransitions counts from zero") {
  auto l = held_by("other");
  l.spec.lease_transitions.reset();
  CHECK(decide(input(l, true, 15s)).record.spec.lease_transitions == 1);
}

TEST_CASE("release_record: holder empty, duration 1, epoch kept, conditional on our version") {
  const auto r = release_record(held_by("me", 15, 7), kWall);
  CHECK(r.spec.holder_identity == "");
  CHECK(r.spec.lease_duration_seconds == 1);
  CHECK(r.spec.lease_transitions == 7);
  CHECK(r.spec.renew_time == kWall);
  CHECK(r.resource_version == "42");
}

// Defect (issue 13): a hand-edited leaseTransitions of INT32_MAX overflowed int (UB; in
// practice a wrap to INT32_MIN, a fencing token that went backwards).
TEST_CASE("decide: leaseTransitions at INT32_MAX saturates on takeover, release and re-create") {
  constexpr int kMax = std::numeric_limits<int>::max();
  SECTION("expired takeover") {
    const auto d = decide(input(held_by("other", 15, kMax), true, 16s));
    REQUIRE(d.action == Action::update);
    CHECK(d.record.spec.lease_transitions == kMax);
  }
  SECTION("released lease") {
    const auto d = decide(input(held_by("", 1, kMax), true, 0s));
    REQUIRE(d.reason == Reason::released);
    CHECK(d.record.spec.lease_transitions == kMax);
  }
  SECTION("re-created after a delete, the epoch carried over") {
    const auto d = decide(input(held_by("other", 15, kMax), false, 16s));
    REQUIRE(d.action == Action::create);
    CHECK(d.record.spec.lease_transitions == kMax);
  }
  SECTION("just below the limit still counts") {
    const auto d = decide(input(held_by("other", 15, kMax - 1), true, 16s));
    CHECK(d.record.spec.lease_transitions == kMax);
  }
}
