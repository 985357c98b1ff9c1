// LeaseLock::warm (issue 14, item 2): a follower whose holder went silent prepares its
// takeover write (the real lock opens its TLS connection) while the lease still runs, so a
// crash failover does not pay a handshake; and it never does so while the holder renews.
// (A silent holder that cannot be replaced: one warm-up per quiet reconnect, in
// test_elector_hardening.cpp.)
#include "harness.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;

TEST_CASE("warm: a follower warms once when the holder stops renewing, before it takes over") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  const auto last_renewal = next_renewal(h, a);
  FakeLeaseLock::partition(*h.store, *a.client, true);  // a crashed, as far as the store can tell
  const int updates = b.client->updates;
  const int gets = b.client->gets;
  Clock::time_point took_over{};
  REQUIRE(h.run_until(
      [&] {
        if (b.client->updates > updates && took_over == Clock::time_point{}) took_over = h.time->now();
        return b.leads();
      },
      30s));
  // The quiet-watch detector fires three renew periods (2 s) after the last renewal b saw,
  // nine seconds before the 15 s lease runs out: that is when b warms, once.
  REQUIRE(b.client->warms.size() == 1);
  CHECK(b.client->warms[0] == last_renewal + 6s);
  CHECK(b.client->warms[0] < took_over);
  CHECK(took_over >= last_renewal + 15s);
  CHECK(b.client->gets == gets);  // the warm-up is no request
  CHECK(a.client->warms.empty());
}

TEST_CASE("warm: idle followers never warm while the holder renews, and neither does the leader") {
  Harness h;
  auto& a = h.add("a");
  auto& b = h.add("b");
  auto& c = h.add("c");
  h.lead_then_follow(a, b, 5s);
  h.start(c);
  h.run_for(10min);
  CHECK(a.leads());
  CHECK(a.client->warms.empty());
  CHECK(b.client->warms.empty());
  CHECK(c.client->warms.empty());
}
