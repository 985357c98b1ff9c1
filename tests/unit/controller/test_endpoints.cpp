// /healthz judges the leader's last renewal on the elector's own clock.
#include <chrono>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <kle/controller/endpoints.hpp>
#include "unit/election/harness.hpp"

using namespace std::chrono_literals;
using kle::controller::EndpointContext;
using kle::controller::healthz_response;
using kle::controller::leader_document;

// Issue 13: /healthz compared the elector's last renewal (its Clock's time) with
// steady_clock::now(). Here the elector's clock starts near steady_clock's epoch, which this
// machine's uptime is far past: against steady_clock a leader that renewed a moment ago
// looked hours overdue and would have been restarted by its liveness probe.
TEST_CASE("healthz: a renewing leader is healthy on its own clock, whatever steady_clock says") {
  kle::testing::Harness h;
  const auto offset = -std::chrono::duration_cast<kle::testing::Clock::duration>(h.time->now().time_since_epoch());
  auto& m = h.add("me", kle::testing::test_options(), offset);
  h.start(m);
  REQUIRE(h.run_until_leader(5s));
  h.run_for(3s);
  REQUIRE(m.elector->last_renewal());
  REQUIRE(std::chrono::steady_clock::now() - *m.elector->last_renewal() > 30s);  // the old comparison's view
  const EndpointContext ctx{m.elector.get(), m.clock.get(), nullptr, false};
  CHECK(healthz_response(ctx).status == 200);
}

TEST_CASE("healthz: a leader overdue on its own clock fails") {
  kle::testing::Harness h;
  auto& m = h.add("me");
  h.start(m);
  REQUIRE(h.run_until_leader(5s));
  const EndpointContext ctx{m.elector.get(), m.clock.get(), nullptr, false};
  CHECK(healthz_response(ctx).status == 200);
  // The same elector, still leading, asked through a clock that reads lease (15s) + tolerance
  // (10s) + 1ms past its last renewal.
  REQUIRE(m.elector->current_leader());
  const auto renewed = *m.elector->last_renewal();
  const kle::testing::FakeClock later(h.time, renewed + 25s + 1ms - h.time->now());
  const EndpointContext stale{m.elector.get(), &later, nullptr, false};
  CHECK(healthz_response(stale).status == 500);
}

// Issue 11, item 5: /leader gives the leader its fencing epoch (the KLE_EPOCH its CMD gets),
// and a follower none: it has no term to fence with.
TEST_CASE("/leader: epoch is the leaseTransitions of the term we lead, null on a follower") {
  kle::testing::Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  REQUIRE(a.leads());
  auto doc = nlohmann::json::parse(leader_document(*a.elector).body);
  CHECK(doc.at("isLeader") == true);
  CHECK(doc.at("epoch") == doc.at("leaseTransitions"));
  CHECK(doc.at("epoch").get<std::int64_t>() == a.elector->fencing_epoch());
  const auto first_epoch = doc.at("epoch").get<std::int64_t>();
  const auto follower_doc = nlohmann::json::parse(leader_document(*b.elector).body);
  CHECK(follower_doc.at("isLeader") == false);
  CHECK(follower_doc.at("epoch").is_null());

  // b takes over when a stops: a new term, a higher epoch.
  h.stop(a);
  REQUIRE(h.run_until([&] { return b.leads(); }, 60s));
  doc = nlohmann::json::parse(leader_document(*b.elector).body);
  CHECK(doc.at("epoch").get<std::int64_t>() == first_epoch + 1);
}

// Issue 11: a restarted container clears its pod's stale leader label at start; until that
// round has ended, the pod must not become Ready (and so an endpoint of the leader Service).
TEST_CASE("/readyz: 503 until the start-up label round has ended") {
  kle::testing::Harness h;
  auto& m = h.add("me");
  bool started = false;
  EndpointContext ctx{m.elector.get(), m.clock.get(), nullptr, false};
  ctx.started = &started;
  CHECK(kle::controller::readyz_response(ctx).status == 503);
  CHECK(kle::controller::readyz_response(ctx).body == "starting\n");
  started = true;
  CHECK(kle::controller::readyz_response(ctx).status == 200);
  ctx.readiness_follows_leadership = true;  // and then the leadership gate, as before
  CHECK(kle::controller::readyz_response(ctx).status == 503);
}
