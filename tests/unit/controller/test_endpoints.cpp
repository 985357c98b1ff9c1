// /healthz judges the leader's last renewal on the elector's own clock.
#include <chrono>

#include <catch2/catch.hpp>

#include <kle/controller/endpoints.hpp>
#include "unit/election/harness.hpp"

using namespace std::chrono_literals;
using kle::controller::EndpointContext;
using kle::controller::healthz_response;

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
