// Elector scenarios on the fake apiserver: the normal life of an election.
#include <csignal>

#include "harness.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;
using election::Event;

TEST_CASE("elector: three electors, exactly one leader, the others follow it") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  auto& c = h.add("c");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(60s);
  REQUIRE(h.leaders() == 1);
  Member* l = h.leader();
  CHECK(h.store->holder() == l->identity);
  CHECK(h.store->lease()->spec.lease_transitions == 0);
  CHECK(h.store->lease()->spec.lease_duration_seconds == 15);
  for (Member* m : {&a, &b, &c}) {
    CHECK(m->elector->current_holder() == l->identity);
    CHECK(m->count(Event::new_leader) == 1);
    CHECK(m->count(Event::leadership_acquired) == (m == l ? 1 : 0));
    CHECK(m->count(Event::leadership_lost) == 0);
  }
  CHECK(l->elector->lease_name() == "the-lease");
  CHECK(l->elector->lease_namespace() == "default");
  CHECK(h.checks > 100);
}

TEST_CASE("elector: renewals PUT the cached lease every retry period, never GET") {
  Harness h;
  auto& a = h.add("a");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  const int gets = a.client->gets;
  const int updates = a.client->updates;
  const auto acquired = h.store->lease()->spec.acquire_time;
  h.run_for(60s);
  CHECK(a.client->gets == gets);
  CHECK(a.client->updates - updates == 30);  // 60s / 2s
  CHECK(a.count(Event::lease_renewed) == 30);
  CHECK(h.store->lease()->spec.acquire_time == acquired);
  CHECK(h.store->lease()->spec.renew_time > acquired);
  CHECK(h.store->lease()->spec.lease_transitions == 0);
  CHECK(a.elector->fencing_epoch() == 0);
}

TEST_CASE("elector: a renewal conflict costs one GET and leadership is kept") {
  Harness h;
  h.add("a");
  h.add("b");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  Member* l = h.leader();
  // kubectl touches the lease (same holder). The leader's watch hands it the new
  // resourceVersion, so its next PUT does not even conflict.
  h.store->set_holder(l->identity);
  int gets = l->client->gets;
  const int updates = l->client->updates;
  h.run_for(10s);
  CHECK(l->leads());
  CHECK(l->client->gets == gets);
  CHECK(l->client->updates == updates + 5);

  // Without the watch the cached resourceVersion goes stale: one conflict, one GET.
  l->client->fail_next(FakeClient::Op::watch, api::ErrorKind::transport, 1000);
  h.store->end_watches(l->client.get(), fake_error(api::ErrorKind::transport));
  h.run_for(1s);
  h.store->set_holder(l->identity);
  gets = l->client->gets;
  h.run_for(10s);
  CHECK(l->leads());
  CHECK(l->client->gets == gets + 1);
  CHECK(l->count(Event::leadership_lost) == 0);
  CHECK(h.store->holder() == l->identity);
  CHECK(h.store->lease()->spec.lease_transitions == 0);
}

TEST_CASE("elector: one transient renewal error does not drop leadership - retry is sooner") {
  Harness h;
  auto& a = h.add("a");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(1s);
  a.client->fail_next(FakeClient::Op::update, api::ErrorKind::server_error);
  const int updates = a.client->updates;
  // The failed attempt at t=2s, the retry at +500ms (period/4), then the normal cadence.
  h.run_for(1600ms);
  CHECK(a.client->updates == updates + 2);
  CHECK(a.leads());
  h.run_for(30s);
  CHECK(a.leads());
  CHECK(a.count(Event::leadership_lost) == 0);
}

TEST_CASE("elector: Retry-After on a failed renewal is honoured") {
  Harness h;
  auto& a = h.add("a");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(1s);
  a.client->fail_next(FakeClient::Op::update, api::ErrorKind::too_many_requests, 1, 3s);
  const int updates = a.client->updates;
  h.run_for(3900ms);  // failed at 2s, next try 3s later (not 500ms later)
  CHECK(a.client->updates == updates + 1);
  h.run_for(200ms);
  CHECK(a.client->updates == updates + 2);
  CHECK(a.leads());
}

TEST_CASE("elector: stop() releases (holder \"\", duration 1, epoch kept), emits lost, is idempotent") {
  Harness h;
  auto& a = h.add("a");
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(5s);
  h.stop(a);
  CHECK_FALSE(a.leads());
  REQUIRE(h.store->lease().has_value());
  CHECK(h.store->lease()->spec.holder_identity == "");
  CHECK(h.store->lease()->spec.lease_duration_seconds == 1);
  CHECK(h.store->lease()->spec.lease_transitions == 0);
  h.run_for(1s);
  CHECK(a.count(Event::leadership_lost) == 1);
  const auto writes = h.store->history().size();
  h.stop(a);  // again: nothing more happens
  h.run_for(30s);
  CHECK(h.store->history().size() == writes);
  CHECK(a.count(Event::leadership_lost) == 1);
}

TEST_CASE("elector: release_on_stop=false leaves the lease to expire") {
  Harness h;
  auto o = test_options();
  o.release_on_stop = false;
  auto& a = h.add("a", o);
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.stop(a);
  CHECK_FALSE(a.leads());
  CHECK(h.store->holder() == "a");
}

TEST_CASE("elector: a follower takes a released lease within one round trip") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 20s);
  REQUIRE(a.leads());
  for (auto* m : {&a, &b}) m->client->latency = 50ms;
  const auto t = h.time->now();
  bool stopped = false;
  boost::asio::co_spawn(h.ioc, a.elector->stop(), [&](const std::exception_ptr&) { stopped = true; });
  REQUIRE(h.run_until([&] { return b.leads(); }, 1s));
  // Release PUT (50ms) -> watch event -> b's PUT (50ms): two request latencies, no polling.
  CHECK(h.time->now() - t == 100ms);
  CHECK(h.store->lease()->spec.lease_transitions == 1);
  REQUIRE(h.run_until([&] { return stopped; }, 1s));
}

// Between renewals a leader's loop sleeps on an entry of the shared timer queue, which holds
// nothing of the Elector's: its destructor's stop must still wake the loop and release.
TEST_CASE("elector: an Elector destroyed without stop() releases, and the follower takes over at once") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 20s);
  REQUIRE(a.leads());
  for (auto* m : {&a, &b}) m->client->latency = 50ms;
  const auto t = h.time->now();
  a.elector.reset();
  REQUIRE(h.run_until([&] { return b.leads(); }, 1s));
  CHECK(h.time->now() - t == 100ms);  // the release PUT, then b's PUT on the watch event
  CHECK(h.store->lease()->spec.lease_transitions == 1);
  // A follower destroyed the same way leaves the new leader alone.
  auto& c = h.add("c");
  h.start(c);
  h.run_for(5s);
  c.elector.reset();
  h.run_for(60s);
  CHECK(b.leads());
  CHECK(h.store->holder() == "b");
  CHECK(h.store->lease()->spec.lease_transitions == 1);
}

TEST_CASE("elector: a follower takes an expired lease at the moment of local expiry") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 7s);
  // a's process freezes: it neither renews nor releases (a partition, as seen by b).
  FakeLeaseLock::partition(*h.store, *a.client, true);
  const auto last_write = h.store->history().back().at;
  REQUIRE(h.run_until([&] { return b.leads(); }, 60s));
  CHECK(h.time->now() == last_write + 15s);
  CHECK(h.store->lease()->spec.lease_transitions == 1);
  // a stepped down on its own, at its renew deadline, long before b took over.
  CHECK_FALSE(a.leads());
  REQUIRE(a.count(Event::leadership_lost) == 1);
}

TEST_CASE("elector: standalone (no lock) assumes leadership, and stop() gives it up") {
  boost::asio::io_context ioc;
  auto time = std::make_shared<FakeTime>();
  auto o = test_options();
  o.identity = "solo";
  std::vector<Event> seen;
  election::Elector e(ioc.get_executor(), nullptr, o, std::make_shared<FakeClock>(time));
  e.on([&](Event ev, const election::LeaseState& s) {
    seen.push_back(ev);
    CHECK(s.holder == (ev == Event::leadership_acquired ? "solo" : ""));
  });
  boost::asio::co_spawn(ioc, e.start(), boost::asio::detached);
  REQUIRE(drive(ioc, *time, [&] { return seen.size() == 1; }, 1s));
  CHECK(e.current_leader());
  CHECK(e.current_holder() == "solo");
  CHECK_FALSE(e.last_renewal().has_value());
  bool done = false;
  boost::asio::co_spawn(ioc, e.stop(), [&](const std::exception_ptr&) { done = true; });
  REQUIRE(drive(ioc, *time, [&] { return done && seen.size() == 2; }, 1s));
  CHECK(seen == std::vector<Event>{Event::leadership_acquired, Event::leadership_lost});
  CHECK_FALSE(e.current_leader());
}

TEST_CASE("elector: start() with wait_for_leadership completes once a leader is known") {
  Harness h;
  auto o = test_options();
  auto& a = h.add("a");
  o.wait_for_leadership = true;
  auto& b = h.add("b", o);
  h.start(a);
  REQUIRE(h.run_until_leader(1s));
  bool started = false;
  boost::asio::co_spawn(h.ioc, b.elector->start(), [&](const std::exception_ptr&) { started = true; });
  REQUIRE(h.run_until([&] { return started; }, 1s));
  CHECK(b.elector->current_holder() == "a");
  CHECK_FALSE(b.leads());
}

TEST_CASE("elector: an unsubscribed handler is not called - invalid options throw at construction") {
  Harness h;
  auto& a = h.add("a");
  int calls = 0;
  const auto id = a.elector->on([&](Event, const election::LeaseState&) { ++calls; });
  a.elector->off(id);
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(5s);
  CHECK(calls == 0);
  CHECK(a.count(Event::leadership_acquired) == 1);

  auto bad = test_options();
  bad.identity = "x";
  bad.renew_deadline = 20s;
  CHECK_THROWS_AS(election::Elector(h.ioc.get_executor(), nullptr, bad), std::invalid_argument);
}

namespace {
struct CountingObserver : election::ElectorObserver {
  int on = 0, off = 0, ok = 0, failed = 0;
  std::int64_t transitions = -1;
  void on_leadership(bool leader) override { (leader ? on : off) += 1; }
  void on_renewal(bool success, std::chrono::steady_clock::duration) override { (success ? ok : failed) += 1; }
  void on_observed_transitions(std::int64_t t) override { transitions = t; }
};
}  // namespace

TEST_CASE("elector: the observer sees leadership, every renewal attempt and the transitions") {
  Harness h;
  auto obs = std::make_shared<CountingObserver>();
  auto o = test_options();
  o.observer = obs;
  auto& a = h.add("a", o);
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  h.run_for(1s);
  a.client->fail_next(FakeClient::Op::update, api::ErrorKind::server_error);
  h.run_for(10s);
  CHECK(obs->on == 1);
  CHECK(obs->failed == 1);
  CHECK(obs->ok == 1 + a.count(Event::lease_renewed));  // the winning acquire counts
  CHECK(obs->transitions == 0);
  h.stop(a);
  CHECK(obs->off == 1);
}

TEST_CASE("elector: auto_close turns SIGTERM into stop(), which releases the lease") {
  Harness h;
  auto o = test_options();
  o.auto_close = true;
  auto& a = h.add("a", o);
  h.start_all();
  REQUIRE(h.run_until_leader(1s));
  REQUIRE(::raise(SIGTERM) == 0);  // asio's signal_set owns SIGTERM while the elector runs
  REQUIRE(h.run_until([&] { return h.store->holder().empty(); }, 1s));
  CHECK_FALSE(a.leads());
  h.run_for(1s);
  CHECK(a.count(Event::leadership_lost) == 1);
}
