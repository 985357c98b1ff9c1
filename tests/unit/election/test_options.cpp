#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include <kle/election/health.hpp>
#include <kle/election/options.hpp>

using namespace kle::election;
using namespace std::chrono_literals;

TEST_CASE("resolve_timings: seed defaults (renew 10s, lease 2x, deadline 2/3, poll = renew)") {
  ElectorOptions o;
  auto t = resolve_timings(o);
  REQUIRE(t.ok());
  CHECK(t->renew_interval == 10000ms);
  CHECK(t->lease_duration == 20000ms);
  CHECK(t->renew_deadline == 13333ms);
  CHECK(t->follower_poll == 10000ms);
  CHECK(t->jitter == Approx(1.2));
}

TEST_CASE("resolve_timings: the controller's flags (15s / 10s / 2s) pass unchanged") {
  ElectorOptions o;
  o.renew_interval = 2000ms;
  o.lease_duration = 15s;
  o.renew_deadline = 10000ms;
  auto t = resolve_timings(o);
  REQUIRE(t.ok());
  CHECK(t->lease_duration == 15000ms);
  CHECK(t->renew_deadline == 10000ms);
  CHECK(t->renew_interval == 2000ms);
  CHECK(t->follower_poll == 2000ms);
}

TEST_CASE("resolve_timings: the default lease duration rounds up to whole seconds") {
  ElectorOptions o;
  o.renew_interval = 1700ms;  // 2 x 1.7s = 3.4s -> 4s on the wire
  auto t = resolve_timings(o);
  REQUIRE(t.ok());
  CHECK(t->lease_duration == 4000ms);
}

TEST_CASE("resolve_timings: lease_duration must exceed renew_deadline, with the numbers") {
  ElectorOptions o;
  o.renew_interval = 2000ms;
  o.lease_duration = 10s;
  o.renew_deadline = 10000ms;
  auto t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().kind == kle::api::ErrorKind::config);
  CHECK(t.error().message == "lease_duration (10000ms) must be greater than renew_deadline (10000ms)");
}

TEST_CASE("resolve_timings: renew_deadline must exceed jitter x renew_interval, with the numbers") {
  ElectorOptions o;
  o.renew_interval = 5000ms;
  o.lease_duration = 15s;
  o.renew_deadline = 6000ms;
  auto t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message ==
        "renew_deadline (6000ms) must be greater than jitter x renew_interval (1.2 x 5000ms = 6000ms)");
}

TEST_CASE("resolve_timings: refuses non-positive periods, a sub-second lease and jitter < 1") {
  ElectorOptions o;
  o.renew_interval = 0ms;
  CHECK(resolve_timings(o).error().message == "renew_interval must be positive, got 0ms");
  o = {};
  o.lease_duration = 0s;
  CHECK(resolve_timings(o).error().message == "lease_duration must be at least 1s, got 0ms");
  o = {};
  o.jitter = 0.5;
  CHECK(resolve_timings(o).error().message == "jitter must be at least 1.0, got 0.5");
  o = {};
  o.follower_poll = -1ms;
  CHECK(resolve_timings(o).error().message == "follower_poll must be positive, got -1ms");
}

TEST_CASE("validate_names: identity, DNS-1123 subdomain lease, DNS-1123 label namespace") {
  ElectorOptions o;
  o.identity = "pod-a";
  o.namespace_ = "kube-system";
  o.lease_name = "my.lease-1";
  CHECK(validate_names(o).ok());

  auto bad = o;
  bad.identity.clear();
  CHECK_FALSE(validate_names(bad).ok());
  bad = o;
  bad.lease_name = "My_Lease";
  REQUIRE_FALSE(validate_names(bad).ok());
  CHECK(validate_names(bad).error().message.find("\"My_Lease\" is not a DNS-1123 subdomain") != std::string::npos);
  bad = o;
  bad.namespace_ = "a.b";
  REQUIRE_FALSE(validate_names(bad).ok());
  CHECK(validate_names(bad).error().message.find("\"a.b\" is not a DNS-1123 label") != std::string::npos);

  CHECK(is_dns1123_label("a"));
  CHECK_FALSE(is_dns1123_label("-a"));
  CHECK_FALSE(is_dns1123_label("a-"));
  CHECK_FALSE(is_dns1123_label(std::string(64, 'a')));
  CHECK(is_dns1123_label(std::string(63, 'a')));
  CHECK(is_dns1123_subdomain("a.b.c"));
  CHECK_FALSE(is_dns1123_subdomain("a..b"));
  CHECK_FALSE(is_dns1123_subdomain(".a"));
  CHECK_FALSE(is_dns1123_subdomain(""));
}

TEST_CASE("default_identity is elector-{hostname}-{pid}") {
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  CHECK(default_identity() == "elector-" + std::string(host) + "-" + std::to_string(::getpid()));
}

TEST_CASE("default_namespace reads the service-account file, else \"default\"") {
  const std::string path = "/tmp/kle-election-test-ns-" + std::to_string(::getpid());
  std::remove(path.c_str());
  CHECK(default_namespace(path) == "default");
  {
    std::ofstream(path) << "team-a\n";
  }
  CHECK(default_namespace(path) == "team-a");
  std::remove(path.c_str());

  ElectorOptions o;
  o.namespace_ = "given";
  auto filled = with_defaults(o);
  CHECK(filled.namespace_ == "given");
  CHECK(filled.identity == default_identity());
}

TEST_CASE("leader_health: a leader is unhealthy only past lease duration + tolerance") {
  using TP = Clock::time_point;
  const TP t0{std::chrono::hours(1)};
  CHECK(leader_health(false, std::nullopt, t0, 15000ms, 5000ms).healthy);  // followers are fine
  CHECK(leader_health(true, t0, t0 + 20000ms, 15000ms, 5000ms).healthy);
  auto h = leader_health(true, t0, t0 + 20001ms, 15000ms, 5000ms);
  CHECK_FALSE(h.healthy);
  CHECK(h.reason == "leader has not renewed for 20001ms (limit 20000ms = lease duration + tolerance)");
  // Standalone: a leader without a lease never renews and is not a fault.
  CHECK(leader_health(true, std::nullopt, t0, 15000ms, 5000ms).healthy);
}

TEST_CASE("resolve_timings: the lease must fit leaseDurationSeconds, an int32") {
  const std::chrono::seconds int32_max{2147483647};
  ElectorOptions o;
  o.lease_duration = int32_max;
  auto t = resolve_timings(o);
  REQUIRE(t.ok());
  CHECK(t->lease_duration == int32_max);
  // 71582788m31s = 2^32 + 15 seconds: truncated to 32 bits it was written as 15.
  o.lease_duration = std::chrono::minutes(71582788) + 31s;
  t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().kind == kle::api::ErrorKind::config);
  CHECK(t.error().message ==
        "lease_duration (4294967311000ms) exceeds 2147483647s, the most leaseDurationSeconds (an int32) can state");
  o.lease_duration = int32_max + 1s;
  CHECK_FALSE(resolve_timings(o).ok());
  o.lease_duration = std::chrono::hours(1000000000);
  CHECK_FALSE(resolve_timings(o).ok());
}

TEST_CASE("resolve_timings: a lease the Lease cannot state exactly is refused, not rounded") {
  ElectorOptions o;
  o.renew_interval = 1000ms;
  o.lease_duration = 15500ms;  // the wire holds 15; this process would time 15.5
  auto t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message == "lease_duration (15500ms) must be a whole number of seconds: leaseDurationSeconds is an integer");
  o.lease_duration = 16000ms;
  t = resolve_timings(o);
  REQUIRE(t.ok());
  // In memory exactly what is written.
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(t->lease_duration) == t->lease_duration);
  CHECK(kMaxLeaseDuration == std::chrono::seconds(2147483647));
}

TEST_CASE("resolve_timings: huge periods and jitter are refused before any arithmetic overflows") {
  ElectorOptions o;
  o.renew_interval = std::chrono::milliseconds::max();  // the default lease is 2 x this
  auto t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("renew_interval (") == 0);

  o = {};
  o.follower_poll = std::chrono::milliseconds::max();  // the follower poll, jittered
  t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("exceeds the longest wait a timer can hold") != std::string::npos);

  o = {};
  o.lease_duration = std::chrono::seconds(2147483647);  // the watch backoff, jittered, tops out here
  o.jitter = 1e6;
  t = resolve_timings(o);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("exceeds the longest wait a timer can hold") != std::string::npos);

  o = {};
  o.renew_deadline = std::chrono::milliseconds::max();
  CHECK_FALSE(resolve_timings(o).ok());
}
