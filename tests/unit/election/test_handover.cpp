// Planned handover in the pure core (docs/HANDOVER.md): the hold-back rules of decide() and
// the machine's hand_over / resign / release hint, driven step by step on an injected clock.
#include <catch2/catch.hpp>

#include <algorithm>

#include <kle/election/decision.hpp>
#include <kle/election/machine.hpp>
#include "instants.hpp"
#include "machine_helpers.hpp"

using namespace kle;
using namespace kle::election;
using namespace std::chrono_literals;
using kle::testing::kT0;
using kle::testing::kWall;
using kle::testing::emitted;
using kle::testing::landed;

namespace {

api::Lease record(const std::string& holder, const std::string& rv, int transitions = 3) {
  api::Lease l;
  l.name = "the-lease";
  l.namespace_ = "default";
  l.resource_version = rv;
  l.spec.holder_identity = holder;
  l.spec.lease_duration_seconds = holder.empty() ? 1 : 15;
  l.spec.renew_time = kWall;
  l.spec.lease_transitions = transitions;
  return l;
}

api::Lease hinted(api::Lease l, const std::string& preferred, const std::string& newest = {}) {
  if (!preferred.empty()) api::set_lease_annotation(l, kPreferredHolderAnnotation, preferred);
  if (!newest.empty()) api::set_lease_annotation(l, kNewestRevisionAnnotation, newest);
  return l;
}

// identity and revision are views in DecisionInput: string literals only (static storage).
DecisionInput input(const api::Lease& observed, Clock::duration since_change, std::string_view identity = "me",
                    std::string_view revision = {}) {
  DecisionInput in;
  in.observed = observed;
  in.exists = true;
  in.observed_at = kT0;
  in.now = kT0 + since_change;
  in.wall_now = kWall;
  in.identity = identity;
  in.lease_name = "the-lease";
  in.lease_namespace = "default";
  in.lease_duration = 15s;
  in.revision = revision;
  in.handover_grace = 2s;
  in.older_grace = 3s;
  return in;
}

Machine make_machine(const std::string& identity = "me", const std::string& revision = {}) {
  MachineConfig c;
  c.identity = identity;
  c.lease_name = "the-lease";
  c.lease_namespace = "default";
  c.timings = ResolvedTimings{15000ms, 10000ms, 2000ms, 2000ms, 1.2};
  c.revision = revision;
  c.handover_grace = 2s;
  c.older_grace = 3s;
  c.handover_drain = 500ms;
  return Machine(c);
}



// A machine leading the lease it created at kT0, its watch up.
Machine leading(const std::string& identity = "me") {
  Machine m = make_machine(identity);
  REQUIRE(m.next(kT0, kWall).kind == LoopStep::Kind::read);
  api::Error missing;
  missing.kind = api::ErrorKind::not_found;
  m.on_read(kT0, missing);
  const LoopStep create = m.next(kT0, kWall);
  REQUIRE(create.kind == LoopStep::Kind::write);
  m.on_write(kT0 + 10ms, landed(create, "10"));
  REQUIRE(m.leader());
  m.on_watch_opened(kT0 + 10ms);
  m.take_effects();
  return m;
}

}  // namespace

TEST_CASE("handover decide: the named successor takes a released lease at once and drops the hint") {
  const auto d = decide(input(hinted(record("", "7"), "me"), 0s));
  REQUIRE(d.action == Action::update);
  CHECK(d.reason == Reason::released);
  CHECK(d.record.spec.holder_identity == "me");
  CHECK(d.record.spec.lease_transitions == 4);
  CHECK_FALSE(api::lease_annotation(d.record, kPreferredHolderAnnotation));
}

TEST_CASE("handover decide: another follower holds back for the grace, then anyone may") {
  const api::Lease released = hinted(record("", "7"), "successor");
  const auto held_back = decide(input(released, 1999ms));
  CHECK(held_back.action == Action::none);
  CHECK(held_back.reason == Reason::yielding);
  CHECK(held_back.expires_at == kT0 + 2s);
  const auto taken = decide(input(released, 2s));
  REQUIRE(taken.action == Action::update);
  CHECK(taken.record.spec.holder_identity == "me");
  CHECK_FALSE(api::lease_annotation(taken.record, kPreferredHolderAnnotation));  // it expired unserved
}

TEST_CASE("handover decide: a dead preferred holder delays an expired lease by the grace at most") {
  const api::Lease held = hinted(record("crashed-leader", "7"), "dead-pod");
  CHECK(decide(input(held, 14s)).reason == Reason::held);
  const auto yielding = decide(input(held, 15s));
  CHECK(yielding.action == Action::none);
  CHECK(yielding.expires_at == kT0 + 17s);
  CHECK(decide(input(held, 17s)).action == Action::update);
}

TEST_CASE("handover decide: an older revision holds back the extra grace, the newest does not") {
  const api::Lease released = hinted(record("", "7"), "", "new-hash");
  CHECK(decide(input(released, 0s, "me", "new-hash")).action == Action::update);
  CHECK(decide(input(released, 0s, "me", "")).action == Action::update);  // revision unknown: no hold
  const auto older = decide(input(released, 0s, "me", "old-hash"));
  CHECK(older.action == Action::none);
  CHECK(older.expires_at == kT0 + 3s);
  CHECK(decide(input(released, 3s, "me", "old-hash")).action == Action::update);
  SECTION("both hints add up, bounded by their sum") {
    const api::Lease both = hinted(record("", "7"), "successor", "new-hash");
    CHECK(decide(input(both, 4999ms, "me", "old-hash")).action == Action::none);
    CHECK(decide(input(both, 5s, "me", "old-hash")).action == Action::update);
    CHECK(decide(input(both, 0s, "successor", "old-hash")).action == Action::update);  // named: at once
  }
  SECTION("the newest-revision hint survives an acquisition, for a later crash") {
    const auto d = decide(input(released, 0s, "me", "new-hash"));
    CHECK(api::lease_annotation(d.record, kNewestRevisionAnnotation) == "new-hash");
  }
  SECTION("an older revision that wins after the grace records its own: the recorded one was stale") {
    const auto d = decide(input(released, 3s, "me", "old-hash"));
    REQUIRE(d.action == Action::update);
    CHECK(api::lease_annotation(d.record, kNewestRevisionAnnotation) == "old-hash");
    // The next crash of that leader: nobody holds back for a revision that no pod has.
    auto expired = d.record;
    expired.spec.holder_identity = "me";
    CHECK(decide(input(expired, 15s, "other", "old-hash")).action == Action::update);
  }
  SECTION("a renewal never rewrites it, and a pod without a revision leaves it alone") {
    auto in = input(hinted(record("me", "7"), "", "new-hash"), 1s, "me", "old-hash");
    in.am_leader = true;
    CHECK(api::lease_annotation(decide(in).record, kNewestRevisionAnnotation) == "new-hash");
    CHECK(api::lease_annotation(decide(input(released, 0s, "me", "")).record, kNewestRevisionAnnotation) == "new-hash");
  }
}

TEST_CASE("handover decide: a leader's renewal records the newest Ready revision it was told of") {
  // A leader of the old revision mid-rollout, before any handover: its controller saw a
  // Ready pod of the new one. If it crashes now, old followers must hold back.
  auto in = input(record("me", "7"), 1s, "me", "old-hash");
  in.am_leader = true;
  in.newest_revision = "new-hash";
  const auto d = decide(in);
  REQUIRE(d.reason == Reason::renewed);
  CHECK(api::lease_annotation(d.record, kNewestRevisionAnnotation) == "new-hash");
  auto crashed = d.record;
  CHECK(decide(input(crashed, 15s, "old-follower", "old-hash")).action == Action::none);  // holds back
  CHECK(decide(input(crashed, 15s, "new-follower", "new-hash")).action == Action::update);
  SECTION("a rollout undone: the leader's next view replaces the record") {
    auto again = input(hinted(record("me", "8"), "", "new-hash"), 1s, "me", "old-hash");
    again.am_leader = true;
    again.newest_revision = "old-hash";
    CHECK(api::lease_annotation(decide(again).record, kNewestRevisionAnnotation) == "old-hash");
  }
  SECTION("unknown (empty) leaves the record as it is") {
    auto unknown = input(hinted(record("me", "8"), "", "new-hash"), 1s, "me", "old-hash");
    unknown.am_leader = true;
    CHECK(api::lease_annotation(decide(unknown).record, kNewestRevisionAnnotation) == "new-hash");
  }
}

TEST_CASE("handover decide: a renewal drops a hint naming the leader itself") {
  auto in = input(hinted(record("me", "7"), "me"), 1s);
  in.am_leader = true;
  const auto d = decide(in);
  REQUIRE(d.reason == Reason::renewed);
  CHECK_FALSE(api::lease_annotation(d.record, kPreferredHolderAnnotation));
}

TEST_CASE("handover machine: hand_over steps down at once, drains, then releases naming the successor") {
  Machine m = leading();
  CHECK(m.hand_over(kT0 + 1s, HandoverHint{"successor", "new-hash"}));
  CHECK_FALSE(m.leader());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  CHECK_FALSE(m.hand_over(kT0 + 1s, HandoverHint{"again", ""}));  // not leading any more

  const LoopStep drain = m.next(kT0 + 1s, kWall);
  REQUIRE(drain.kind == LoopStep::Kind::sleep);
  CHECK(drain.until == kT0 + 1500ms);
  const LoopStep release = m.next(kT0 + 1500ms, kWall);
  REQUIRE(release.kind == LoopStep::Kind::write);
  CHECK(release.decision.record.resource_version == "10");  // conditional on the record we hold
  CHECK(release.decision.record.spec.holder_identity == "");
  CHECK(release.decision.record.spec.lease_duration_seconds == 1);
  CHECK(api::lease_annotation(release.decision.record, kPreferredHolderAnnotation) == "successor");
  CHECK(api::lease_annotation(release.decision.record, kNewestRevisionAnnotation) == "new-hash");
  m.on_write(kT0 + 1510ms, landed(release, "11"));
  CHECK_FALSE(m.leader());

  SECTION("afterwards the old leader is a follower that holds back for the successor") {
    const LoopStep s = m.next(kT0 + 1510ms, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until == kT0 + 1510ms + 2s);
  }
  SECTION("if the successor never takes it, the old leader may after the grace") {
    const LoopStep s = m.next(kT0 + 3510ms, kWall);
    REQUIRE(s.kind == LoopStep::Kind::write);
    CHECK(s.decision.record.spec.holder_identity == "me");
  }
}

TEST_CASE("handover machine: a conflict re-reads; a record no longer ours ends the handover") {
  Machine m = leading();
  REQUIRE(m.hand_over(kT0 + 1s, HandoverHint{"successor", ""}));
  const LoopStep release = m.next(kT0 + 1500ms, kWall);
  REQUIRE(release.kind == LoopStep::Kind::write);
  api::Error conflict;
  conflict.kind = api::ErrorKind::conflict;
  m.on_write(kT0 + 1510ms, conflict);
  const LoopStep read = m.next(kT0 + 1510ms, kWall);
  REQUIRE(read.kind == LoopStep::Kind::read);
  SECTION("still ours (an annotation changed it): released on the fresh record") {
    m.on_read(kT0 + 1520ms, record("me", "12"));
    const LoopStep again = m.next(kT0 + 1520ms, kWall);
    REQUIRE(again.kind == LoopStep::Kind::write);
    CHECK(again.decision.record.resource_version == "12");
    CHECK(api::lease_annotation(again.decision.record, kPreferredHolderAnnotation) == "successor");
  }
  SECTION("someone else's: nothing to hand over, an ordinary follower") {
    m.on_read(kT0 + 1520ms, record("other", "12", 4));
    const LoopStep s = m.next(kT0 + 1520ms, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until == kT0 + 1520ms + 15s);
  }
}

TEST_CASE("handover machine: an operator's preferred-holder annotation seen while leading hands over") {
  Machine m = leading();
  CHECK(m.on_watch_event(kT0 + 1s, LeaseEvent{LeaseEvent::Type::modified, hinted(record("me", "11", 0), "target")}));
  CHECK_FALSE(m.leader());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  const LoopStep release = m.next(kT0 + 1500ms, kWall);
  REQUIRE(release.kind == LoopStep::Kind::write);
  CHECK(release.decision.record.resource_version == "11");
  CHECK(api::lease_annotation(release.decision.record, kPreferredHolderAnnotation) == "target");

  SECTION("a hint naming the leader itself is ignored, and dropped by the next renewal") {
    Machine self = leading();
    self.on_watch_event(kT0 + 1s, LeaseEvent{LeaseEvent::Type::modified, hinted(record("me", "11", 0), "me")});
    CHECK(self.leader());
    const LoopStep renew = self.next(kT0 + 2010ms, kWall);
    REQUIRE(renew.kind == LoopStep::Kind::write);
    CHECK_FALSE(api::lease_annotation(renew.decision.record, kPreferredHolderAnnotation));
  }
}

TEST_CASE("handover machine: the named successor takes the release in one step; never two believers") {
  Machine old_leader = leading("old");
  Machine successor = make_machine("successor", "new-hash");
  Machine bystander = make_machine("bystander", "old-hash");
  for (Machine* f : {&successor, &bystander}) {
    REQUIRE(f->next(kT0 + 20ms, kWall).kind == LoopStep::Kind::read);
    f->on_read(kT0 + 20ms, record("old", "10", 0));
    f->on_watch_opened(kT0 + 20ms);
  }
  REQUIRE(old_leader.hand_over(kT0 + 1s, HandoverHint{"successor", "new-hash"}));
  const LoopStep release = old_leader.next(kT0 + 1500ms, kWall);
  REQUIRE(release.kind == LoopStep::Kind::write);
  const api::Lease released = landed(release, "11");
  old_leader.on_write(kT0 + 1510ms, released);
  for (Machine* f : {&successor, &bystander}) f->on_watch_event(kT0 + 1520ms, LeaseEvent{LeaseEvent::Type::modified, released});

  CHECK(bystander.next(kT0 + 1520ms, kWall).kind == LoopStep::Kind::sleep);
  const LoopStep take = successor.next(kT0 + 1520ms, kWall);
  REQUIRE(take.kind == LoopStep::Kind::write);
  const api::Lease taken = landed(take, "12");
  successor.on_write(kT0 + 1530ms, taken);
  CHECK(successor.leader());
  CHECK_FALSE(old_leader.leader());
  CHECK_FALSE(bystander.leader());
  CHECK(taken.spec.lease_transitions == 1);
  CHECK_FALSE(api::lease_annotation(taken, kPreferredHolderAnnotation));
  CHECK(api::lease_annotation(taken, kNewestRevisionAnnotation) == "new-hash");
}

TEST_CASE("handover machine: resign steps down without releasing; stop then releases naming the hint") {
  Machine m = leading();
  m.resign();
  CHECK_FALSE(m.leader());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  // Resigned: it never takes the record back, even after its term.
  CHECK(m.next(kT0 + 60s, kWall).until == kNever);
  m.set_release_hint(HandoverHint{"successor", "new-hash"});
  m.request_stop();
  REQUIRE(m.next(kT0 + 1s, kWall).kind == LoopStep::Kind::shutdown);
  m.begin_shutdown(kT0 + 1s);
  const ReleaseStep r = m.next_release(kT0 + 1s, kWall);
  REQUIRE(r.kind == ReleaseStep::Kind::write);
  CHECK(r.record.spec.holder_identity == "");
  CHECK(api::lease_annotation(r.record, kPreferredHolderAnnotation) == "successor");
  CHECK(api::lease_annotation(r.record, kNewestRevisionAnnotation) == "new-hash");
}

TEST_CASE("handover options: the graces and the drain are bounded by the lease") {
  ElectorOptions o;
  o.identity = "me";
  o.renew_interval = 2000ms;
  o.lease_duration = 15000ms;
  o.renew_deadline = 10000ms;
  CHECK(resolve_timings(o).ok());
  o.handover_grace = 16s;
  CHECK_FALSE(resolve_timings(o).ok());
  o.handover_grace = 2s;
  o.handover_drain = -1ms;
  CHECK_FALSE(resolve_timings(o).ok());
}
