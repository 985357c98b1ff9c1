// The loop machine, driven step by step: no io_context, no timers, no fake apiserver. Each
// test plays the drivers' part by hand: ask for a step, answer it, read the effects.
#include <catch2/catch.hpp>

#include <algorithm>

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

Machine make_machine() {
  MachineConfig c;
  c.identity = "me";
  c.lease_name = "the-lease";
  c.lease_namespace = "default";
  c.timings = ResolvedTimings{15000ms, 10000ms, 2000ms, 2000ms, 1.2};  // the controller's
  return Machine(c);
}

api::Lease lease(const std::string& holder, const std::string& rv, int transitions = 3) {
  api::Lease l;
  l.name = "the-lease";
  l.namespace_ = "default";
  l.resource_version = rv;
  l.spec.holder_identity = holder;
  l.spec.lease_duration_seconds = 15;
  l.spec.renew_time = kWall;
  l.spec.lease_transitions = transitions;
  return l;
}

api::Error error(api::ErrorKind kind, std::chrono::seconds retry_after = {}) {
  api::Error e;
  e.kind = kind;
  e.retry_after = retry_after;
  return e;
}


bool has(const std::vector<Effect>& effects, Effect::Kind kind, bool flag = false) {
  return std::any_of(effects.begin(), effects.end(), [&](const Effect& e) { return e.kind == kind && e.flag == flag; });
}


// A machine that created the lease at kT0 and leads, the answer having taken 10 ms.
Machine leading() {
  Machine m = make_machine();
  REQUIRE(m.next(kT0, kWall).kind == LoopStep::Kind::read);
  m.on_read(kT0, error(api::ErrorKind::not_found));
  const LoopStep create = m.next(kT0, kWall);
  REQUIRE(create.kind == LoopStep::Kind::write);
  m.on_write(kT0 + 10ms, landed(create, "10"));
  REQUIRE(m.leader());
  m.take_effects();
  return m;
}

}  // namespace

TEST_CASE("machine: a follower reads once, then sleeps until the holder's term ends") {
  Machine m = make_machine();
  REQUIRE(m.next(kT0, kWall).kind == LoopStep::Kind::read);
  m.on_read(kT0, lease("other", "5"));
  const auto seen = m.take_effects();
  CHECK(emitted(seen, Event::new_leader));
  CHECK(m.state().holder == "other");

  SECTION("with the watch down it polls, with jitter, before the term ends") {
    const LoopStep s = m.next(kT0, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until >= kT0 + 2s);
    CHECK(s.until <= kT0 + 4400ms);
    CHECK(has(m.take_effects(), Effect::Kind::leader_known));
  }
  SECTION("with the watch up it sleeps until local expiry, and takes over then") {
    CHECK(m.on_watch_opened(kT0) == "5");
    const LoopStep s = m.next(kT0, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until == kT0 + 15s);
    const LoopStep take = m.next(kT0 + 15s, kWall);
    REQUIRE(take.kind == LoopStep::Kind::write);
    CHECK(take.decision.reason == Reason::expired);
    CHECK(take.decision.record.spec.lease_transitions == 4);
  }
  SECTION("a watch event wakes it; a bookmark does not") {
    m.on_watch_opened(kT0);
    api::Lease bookmark;
    bookmark.resource_version = "6";
    CHECK_FALSE(m.on_watch_event(kT0 + 1s, LeaseEvent{LeaseEvent::Type::bookmark, bookmark}));
    const LeaseEvent released{LeaseEvent::Type::modified, lease("", "7")};
    CHECK(m.on_watch_event(kT0 + 1s, released));
    CHECK(m.observed() == released.lease.get());  // kept, not copied (issue 14)
    const LoopStep take = m.next(kT0 + 1s, kWall);
    REQUIRE(take.kind == LoopStep::Kind::write);
    CHECK(take.decision.reason == Reason::released);
  }
}

TEST_CASE("machine: a confirmed create makes it leader, and it renews every retry period") {
  Machine m = make_machine();
  m.next(kT0, kWall);
  m.on_read(kT0, error(api::ErrorKind::not_found));
  const LoopStep create = m.next(kT0, kWall);
  REQUIRE(create.kind == LoopStep::Kind::write);
  CHECK(create.decision.action == Action::create);
  m.on_write(kT0 + 10ms, landed(create, "10"));
  CHECK(m.leader());
  CHECK(m.last_renewal() == kT0);
  const auto effects = m.take_effects();
  CHECK(has(effects, Effect::Kind::renewal, true));
  CHECK(has(effects, Effect::Kind::leadership, true));
  CHECK(emitted(effects, Event::leadership_acquired));
  CHECK(m.leadership_deadline() == kT0 + 10s);

  const LoopStep wait = m.next(kT0 + 10ms, kWall);
  REQUIRE(wait.kind == LoopStep::Kind::sleep);
  CHECK(wait.until == kT0 + 2s);
  const LoopStep renew = m.next(kT0 + 2s, kWall);
  REQUIRE(renew.kind == LoopStep::Kind::write);
  CHECK(renew.decision.reason == Reason::renewed);
  CHECK(renew.decision.record.resource_version == "10");  // a PUT of the cached record
  m.on_write(kT0 + 2s, landed(renew, "11"));
  CHECK(m.last_renewal() == kT0 + 2s);
  CHECK(emitted(m.take_effects(), Event::lease_renewed));
}

TEST_CASE("machine: a write confirmed after the renew deadline does not count") {
  Machine m = make_machine();
  m.next(kT0, kWall);
  m.on_read(kT0, error(api::ErrorKind::not_found));
  const LoopStep create = m.next(kT0, kWall);
  m.on_write(kT0 + 10s, landed(create, "10"));
  CHECK_FALSE(m.leader());
  CHECK_FALSE(has(m.take_effects(), Effect::Kind::leadership, true));
  // The record names us, but we wait its term out like any follower, from when we saw it.
  m.on_watch_opened(kT0 + 10s);
  const LoopStep s = m.next(kT0 + 10s, kWall);
  REQUIRE(s.kind == LoopStep::Kind::sleep);
  CHECK(s.until == kT0 + 25s);
}

TEST_CASE("machine: an unconfirmed write is adopted when the record shows it landed") {
  Machine m = make_machine();
  m.next(kT0, kWall);
  m.on_read(kT0, lease("", "5"));
  m.on_watch_opened(kT0);
  const LoopStep take = m.next(kT0, kWall);
  REQUIRE(take.kind == LoopStep::Kind::write);
  m.on_write(kT0 + 5s, error(api::ErrorKind::timeout));
  CHECK_FALSE(m.leader());
  SECTION("the watch shows exactly what we wrote: leader from the send time") {
    CHECK(m.on_watch_event(kT0 + 6s, LeaseEvent{LeaseEvent::Type::modified, landed(take, "6")}));
    CHECK(m.leader());
    CHECK(m.last_renewal() == kT0);
  }
  SECTION("a different record: not ours") {
    m.on_watch_event(kT0 + 6s, LeaseEvent{LeaseEvent::Type::modified, lease("other", "6")});
    CHECK_FALSE(m.leader());
  }
  SECTION("a refusal is not uncertain") {
    Machine n = make_machine();
    n.next(kT0, kWall);
    n.on_read(kT0, lease("", "5"));
    const LoopStep t = n.next(kT0, kWall);
    n.on_write(kT0 + 1s, error(api::ErrorKind::forbidden));
    n.on_watch_event(kT0 + 2s, LeaseEvent{LeaseEvent::Type::modified, landed(t, "6")});
    CHECK_FALSE(n.leader());
  }
}

TEST_CASE("machine: a write the watch showed landing counts when its answer is given up on") {
  Machine m = leading();
  const LoopStep renew = m.next(kT0 + 2s, kWall);
  REQUIRE(renew.kind == LoopStep::Kind::write);
  // The watch shows the renewal while its answer is still held up (a slow proxy).
  m.on_watch_event(kT0 + 2100ms, LeaseEvent{LeaseEvent::Type::modified, landed(renew, "11")});
  SECTION("a timeout: renewed from the send time, no retry now") {
    m.on_write(kT0 + 4s, error(api::ErrorKind::timeout));
    CHECK(m.leader());
    CHECK(m.last_renewal() == kT0 + 2s);
    CHECK(has(m.take_effects(), Effect::Kind::renewal, true));
    const LoopStep s = m.next(kT0 + 4s, kWall);
    REQUIRE(s.kind == LoopStep::Kind::write);  // the next period's renewal is due: 2 s + 2 s
    // The deadline counts from the landed write, so the leader still holds at 2 s + 9.9 s.
    m.on_leadership_deadline(kT0 + 11900ms);
    CHECK(m.leader());
  }
  SECTION("a refusal did not land, whatever the watch showed") {
    m.on_write(kT0 + 4s, error(api::ErrorKind::forbidden));
    CHECK(m.last_renewal() == kT0);
  }
}

TEST_CASE("machine: a renewal sent before the deadline's step-down never makes it leader again") {
  Machine m = leading();
  const LoopStep renew = m.next(kT0 + 2s, kWall);
  REQUIRE(renew.kind == LoopStep::Kind::write);
  m.on_leadership_deadline(kT0 + 9s);  // not yet
  CHECK(m.leader());
  m.on_leadership_deadline(kT0 + 10s);
  CHECK_FALSE(m.leader());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  m.on_write(kT0 + 10300ms, landed(renew, "11"));
  CHECK_FALSE(m.leader());
  CHECK_FALSE(has(m.take_effects(), Effect::Kind::leadership, true));
}

TEST_CASE("machine: a watch event older than the record we hold is dropped") {
  Machine m = leading();
  m.on_watch_event(kT0 + 1s, LeaseEvent{LeaseEvent::Type::modified, lease("other", "9")});
  CHECK(m.leader());
  m.on_watch_event(kT0 + 1s, LeaseEvent{LeaseEvent::Type::modified, lease("other", "12")});
  CHECK_FALSE(m.leader());
}

TEST_CASE("machine: Retry-After is capped by the elector's own timings") {
  SECTION("the leader: at half of what is left of its renew deadline") {
    Machine m = leading();
    const LoopStep renew = m.next(kT0 + 2s, kWall);
    REQUIRE(renew.kind == LoopStep::Kind::write);
    m.on_write(kT0 + 2s, error(api::ErrorKind::too_many_requests, 999999999s));
    const LoopStep s = m.next(kT0 + 2s, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until == kT0 + 6s);
    CHECK(m.leader());
  }
  SECTION("a follower: at the renew deadline") {
    Machine m = make_machine();
    m.next(kT0, kWall);
    m.on_read(kT0, lease("", "5"));
    m.next(kT0, kWall);
    m.on_write(kT0, error(api::ErrorKind::too_many_requests, 999999999s));
    const LoopStep s = m.next(kT0, kWall);
    REQUIRE(s.kind == LoopStep::Kind::sleep);
    CHECK(s.until == kT0 + 10s);
  }
  SECTION("a conflict: re-read at once, no wait") {
    Machine m = leading();
    m.next(kT0 + 2s, kWall);
    m.on_write(kT0 + 2s, error(api::ErrorKind::conflict));
    CHECK(m.next(kT0 + 2s, kWall).kind == LoopStep::Kind::read);
  }
}

TEST_CASE("machine: a 410 re-watches from now once, then backs off") {
  Machine m = make_machine();
  m.on_read(kT0, lease("other", "5"));
  CHECK(m.on_watch_opened(kT0) == "5");
  CHECK(m.on_watch_ended(kT0 + 1s, error(api::ErrorKind::gone)) == kT0 + 1s);
  CHECK(m.on_watch_opened(kT0 + 1s).empty());
  CHECK(m.on_watch_ended(kT0 + 1s, error(api::ErrorKind::gone)) > kT0 + 1s);
  SECTION("a stream the server ended after a while reconnects at once") {
    m.on_watch_opened(kT0 + 10s);
    CHECK(m.on_watch_ended(kT0 + 300s, api::Result<void>()) == kT0 + 300s);
  }
}

TEST_CASE("machine: the quiet-watch deadline is three periods while someone else holds it") {
  Machine m = make_machine();
  CHECK(m.watch_quiet_deadline() == kNever);  // nothing seen
  m.on_read(kT0, lease("other", "5"));
  m.on_watch_opened(kT0);
  CHECK(m.watch_quiet_deadline() == kT0 + 6s);
  m.on_watch_quiet(kT0 + 6s);
  m.on_watch_opened(kT0 + 6s);
  CHECK(m.watch_quiet_deadline() == kT0 + 18s);  // doubled after a fruitless reconnect
  m.on_watch_event(kT0 + 7s, LeaseEvent{LeaseEvent::Type::modified, lease("", "6")});
  CHECK(m.watch_quiet_deadline() == kNever);  // nobody renews a released lease
}

TEST_CASE("machine: stop steps down first, then releases; a conflict re-reads") {
  Machine m = leading();
  m.request_stop();
  CHECK(m.next(kT0 + 1s, kWall).kind == LoopStep::Kind::shutdown);
  m.begin_shutdown(kT0 + 1s);
  CHECK_FALSE(m.leader());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  const ReleaseStep release = m.next_release(kT0 + 1s, kWall);
  REQUIRE(release.kind == ReleaseStep::Kind::write);
  CHECK(release.record.spec.holder_identity == "");
  CHECK(release.record.spec.lease_duration_seconds == 1);
  CHECK(release.record.spec.lease_transitions == 0);  // kept, as created
  SECTION("released") {
    m.on_release_write(kT0 + 1s, release.record);
    CHECK(m.next_release(kT0 + 1s, kWall).kind == ReleaseStep::Kind::done);
  }
  SECTION("conflict, then someone else holds it: nothing to release") {
    m.on_release_write(kT0 + 1s, error(api::ErrorKind::conflict));
    REQUIRE(m.next_release(kT0 + 1s, kWall).kind == ReleaseStep::Kind::read);
    m.on_release_read(kT0 + 1s, lease("other", "20"));
    CHECK(m.next_release(kT0 + 1s, kWall).kind == ReleaseStep::Kind::done);
  }
  SECTION("failures retry until the renew deadline, then give up") {
    m.on_release_write(kT0 + 1s, error(api::ErrorKind::server_error));
    const ReleaseStep wait = m.next_release(kT0 + 1s, kWall);
    REQUIRE(wait.kind == ReleaseStep::Kind::sleep);
    CHECK(wait.until == kT0 + 1500ms);
    CHECK(m.next_release(kT0 + 11s, kWall).kind == ReleaseStep::Kind::done);
  }
}

TEST_CASE("machine: failing closed ends leadership first and stops the loop") {
  Machine m = leading();
  m.fail_closed();
  CHECK_FALSE(m.leader());
  CHECK(m.stopping());
  CHECK(emitted(m.take_effects(), Event::leadership_lost));
  CHECK(m.next(kT0 + 1s, kWall).kind == LoopStep::Kind::shutdown);
}
