// Elector regressions from the hardening sweep (issue 15): hostile Retry-After values, a
// renewal that lands after the leader gave up, and a watch stream that stalls silently.
// The harness checks at every virtual instant that at most one elector believes it leads.
#include <limits>

#include "harness.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;
using election::Event;
using Op = FakeClient::Op;

// Item 1: 2^63-1 seconds converted to the clock's nanoseconds overflowed (a UBSan abort).
TEST_CASE("hardening: a retry-after of 2^63-1 seconds neither overflows nor stalls anyone") {
  const auto huge = std::chrono::seconds(std::numeric_limits<std::chrono::seconds::rep>::max());
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  a.client->fail_next(Op::update, api::ErrorKind::too_many_requests, 3, huge);
  h.run_for(30s);
  CHECK(a.leads());  // three 429s, one retry period apart, then renewed within the deadline
  CHECK(a.count(Event::leadership_lost) == 0);

  FakeLeaseLock::partition(*h.store, *a.client, true);
  b.client->fail_next(Op::update, api::ErrorKind::too_many_requests, 1, huge);
  const int updates = b.client->updates;
  REQUIRE(h.run_until([&] { return b.client->updates > updates; }, 30s));
  const auto refused = h.time->now();
  REQUIRE(h.run_until([&] { return b.leads(); }, 30s));
  CHECK(h.time->now() - refused <= 10s);  // the renew deadline at most
}

// Item 2: Retry-After: 999999999 fits the clock but was honoured as is: a leader stopped
// renewing until its deadline took leadership away, a follower stopped trying to take a
// free lease until some watch event woke it (none comes when the holder is gone).
TEST_CASE("hardening: a huge Retry-After is capped by the elector's own timings") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);

  SECTION("the leader retries within half its remaining deadline and keeps leading") {
    const auto last = next_renewal(h, a);
    a.client->fail_next(Op::update, api::ErrorKind::too_many_requests, 1, 999999999s);
    const int updates = a.client->updates;
    REQUIRE(h.run_until([&] { return a.client->updates == updates + 2; }, 30s));
    CHECK(h.time->now() == last + 6s);  // refused at +2 s, 8 s of the deadline left: +4 s
    h.run_for(30s);
    CHECK(a.leads());
    CHECK(a.count(Event::leadership_lost) == 0);
    CHECK(b.count(Event::leadership_acquired) == 0);
  }
  SECTION("a follower whose takeover got the 429 tries again on its own timer") {
    FakeLeaseLock::partition(*h.store, *a.client, true);  // no more events for b
    b.client->fail_next(Op::update, api::ErrorKind::too_many_requests, 1, 999999999s);
    const int updates = b.client->updates;
    REQUIRE(h.run_until([&] { return b.client->updates > updates; }, 30s));
    const auto refused = h.time->now();
    REQUIRE(h.run_until([&] { return b.leads(); }, 60s));
    CHECK(h.time->now() - refused == 10s);  // honoured up to the renew deadline, no longer
    CHECK(h.store->holder() == "b");
  }
}

// Item 13: a stall just longer than renew deadline - retry period. The renewal sent before
// it lands after the leader stepped down at its deadline; crediting it from its send time
// made the leader take leadership back 0.3 s later (lost, then acquired: a flap).
TEST_CASE("hardening: a renewal that lands after the step-down does not take leadership back") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  const auto t0 = next_renewal(h, a);
  a.client->latency = 8300ms;  // the next renewal, sent at t0+2s, lands at t0+10.3s
  SECTION("its answer arrives late") {}
  SECTION("its answer is a timeout, and the watch shows the record it wrote") {
    a.client->commit_but_timeout_next(Op::update);
  }
  REQUIRE(h.run_until([&] { return !a.leads(); }, 15s));
  CHECK(h.time->now() == t0 + 10s);  // the watchdog, at the renew deadline
  a.client->latency = 0ms;           // the stall is over (the write is already on its way)
  h.run_for(5s);
  CHECK_FALSE(a.leads());
  CHECK(a.count(Event::leadership_acquired) == 1);
  CHECK(a.count(Event::leadership_lost) == 1);
  CHECK(h.store->history().back().at == t0 + 10300ms);  // it landed, naming a
  CHECK(h.store->holder() == "a");
  // Everyone, a included, waits the landed record's term out; then exactly one takes over.
  REQUIRE(h.run_until([&] { return h.leaders() == 1; }, 30s));
  CHECK(h.time->now() >= t0 + 10300ms + 15s);
  h.run_for(30s);
  CHECK(h.leaders() == 1);
  CHECK(h.store->holder() == h.leader()->identity);
}

// Item 14: a stream that stalls silently was noticed only at the server's watch timeout;
// meanwhile a release reached the follower only through its own expiry timer.
TEST_CASE("hardening: a follower reconnects a watch that went quiet while the lease is held") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  const auto last_event = next_renewal(h, a);
  h.run_for(1ms);  // b has seen that renewal
  h.store->stall_watches(b.client.get());
  const int watches = b.client->watches;
  const int gets = b.client->gets;
  h.run_for(1s);
  const auto released = h.time->now();
  h.stop(a);
  REQUIRE(h.run_until([&] { return b.leads(); }, 30s));
  // Three retry periods after the last event b saw, it watched again from the version it
  // held, and the replay carried the release: one request, no GET.
  CHECK(h.time->now() == last_event + 6s);
  CHECK(h.time->now() - released < 6s);
  CHECK(b.client->watches == watches + 1);
  CHECK(b.client->gets == gets);
}

TEST_CASE("hardening: a quiet watch costs nothing where no holder renews, or while events flow") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  const int a_watches = a.client->watches;
  const int b_requests = b.client->watches + b.client->gets + b.client->updates + b.client->creates;
  h.run_for(10min);
  CHECK(a.client->watches == a_watches);  // the leader has no heartbeat to miss
  CHECK(b.client->watches + b.client->gets + b.client->updates + b.client->creates == b_requests);

  // A released lease that this follower may not take: nobody renews it, so however long
  // the stream stays quiet the follower never watches again (its failing writes aside).
  Harness idle;
  auto& c = idle.add("c");
  api::Lease released;
  released.spec.holder_identity = "";
  released.spec.lease_duration_seconds = 15;
  c.client->fail_next(Op::update, api::ErrorKind::forbidden, 1000000);  // it may not take it
  REQUIRE(idle.store->create(released).ok());
  idle.start(c);
  idle.run_for(5s);
  const int c_watches = c.client->watches;
  idle.run_for(10min);
  CHECK(c.client->watches == c_watches);
}

TEST_CASE("hardening: fruitless quiet reconnects back off while the holder stays silent") {
  Harness h;
  auto& b = h.add("b");
  api::Lease ghost;
  ghost.spec.holder_identity = "ghost";  // never renews
  ghost.spec.lease_duration_seconds = 15;
  REQUIRE(h.store->create(ghost).ok());
  b.client->fail_next(Op::update, api::ErrorKind::forbidden, 1000000);  // and b may not take it
  h.start(b);
  h.run_for(1ms);
  const int watches = b.client->watches;
  h.run_for(6s);
  CHECK(b.client->watches == watches + 1);  // after 6 s
  h.run_for(12s);
  CHECK(b.client->watches == watches + 2);  // 12 s later
  h.run_for(24s);
  CHECK(b.client->watches == watches + 3);  // 24 s later: at least the lease duration now
  h.run_for(48s);
  CHECK(b.client->watches == watches + 5);  // every 24 s from here on
  CHECK_FALSE(b.leads());
  // Each quiet reconnect also warms the takeover connection (issue 14); the real transport
  // skips it while its pooled connection is still young.
  CHECK(b.client->warms.size() == 5);
}

// A Node elector (renew every 10 s, lease 20 s) holding the lease: its renewTimes show it
// renews less often than our retry period, and the detector paces itself by that.
TEST_CASE("hardening: a holder that renews less often than we do costs no quiet reconnects") {
  Harness h;
  auto& b = h.add("b");
  api::Lease node;
  node.spec.holder_identity = "node-elector";
  node.spec.lease_duration_seconds = 20;
  node.spec.renew_time = api::MicroTime(std::chrono::microseconds(1795478400LL * 1000000LL));
  REQUIRE(h.store->create(node).ok());
  h.start(b);
  for (int i = 0; i < 12; ++i) {
    h.run_for(10s);
    api::Lease renewed = *h.store->lease();
    *renewed.spec.renew_time += 10s;
    REQUIRE(h.store->update(renewed).ok());
  }
  CHECK(b.client->watches <= 2);  // one reconnect at most, before the cadence was seen
  CHECK_FALSE(b.leads());
}
