// Registry renders exactly the contract's metrics, and each hook moves the right series.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "exposition.hpp"
#include <kle/metrics/registry.hpp>

using kle::metrics::Registry;
using kle::metrics::RegistryOptions;
using kle::metrics::testing::Exposition;
using kle::metrics::testing::parse_exposition;
using namespace std::chrono_literals;

namespace {

const std::chrono::system_clock::time_point kWall{std::chrono::seconds(1'700'000'000)};

RegistryOptions options() {
  RegistryOptions o;
  o.lease = "my-lease";
  o.ns = "prod";
  o.version = "0.1.0";
  o.wall_now = [] { return kWall + 250ms; };
  return o;
}

const kle::metrics::testing::LabelMap kScope{{"lease", "my-lease"}, {"namespace", "prod"}};

Exposition scrape(const Registry& r) { return parse_exposition(r.serialize()); }

}  // namespace

TEST_CASE("a fresh registry exposes every contract metric with its type and labels") {
  Registry registry(options());
  // api_requests_total has no series until the first request and prometheus-cpp omits
  // empty families, so make one request to see all eleven.
  registry.api_request("GET", 200);
  const auto e = scrape(registry);

  const std::vector<std::pair<std::string, std::string>> families{
      {"leader_election_is_leader", "gauge"},
      {"leader_election_leadership_transitions_total", "counter"},
      {"leader_election_renewals_total", "counter"},
      {"leader_election_renewal_failures_total", "counter"},
      {"leader_election_renewal_duration_seconds", "histogram"},
      {"leader_election_last_renewal_timestamp_seconds", "gauge"},
      {"leader_election_observed_lease_transitions", "gauge"},
      {"leader_election_label_reconcile_actions_total", "counter"},
      {"leader_election_label_reconcile_failures_total", "counter"},
      {"leader_election_api_requests_total", "counter"},
      {"leader_election_build_info", "gauge"},
  };
  CHECK(e.type.size() == families.size());
  for (const auto& [name, type] : families) {
    INFO(name);
    REQUIRE(e.type.count(name) == 1);
    CHECK(e.type.at(name) == type);
    REQUIRE(e.help.count(name) == 1);
    CHECK_FALSE(e.help.at(name).empty());
  }

  // Every sample except build_info carries exactly lease/namespace (+ its own labels).
  for (const auto& s : e.samples) {
    INFO(s.name);
    if (s.name == "leader_election_build_info") {
      CHECK(s.labels == kle::metrics::testing::LabelMap{{"version", "0.1.0"}});
      CHECK(s.value == 1);
      continue;
    }
    CHECK(s.labels.at("lease") == "my-lease");
    CHECK(s.labels.at("namespace") == "prod");
  }

  CHECK(e.value("leader_election_is_leader", kScope) == 0);
  CHECK(e.value("leader_election_leadership_transitions_total") == 0);
  CHECK(e.value("leader_election_label_reconcile_actions_total", {{"action", "set"}}) == 0);
  CHECK(e.value("leader_election_label_reconcile_actions_total", {{"action", "clear"}}) == 0);
}

TEST_CASE("api_requests_total is absent until the first request") {
  Registry registry(options());
  const auto e = scrape(registry);
  CHECK(e.type.count("leader_election_api_requests_total") == 0);
  CHECK(e.find("leader_election_api_requests_total").empty());
  CHECK(e.type.size() == 10);
}

TEST_CASE("the renewal histogram has exactly the contract's buckets") {
  Registry registry(options());
  const auto buckets = scrape(registry).find("leader_election_renewal_duration_seconds_bucket", kScope);
  std::vector<std::string> le;
  for (const auto& b : buckets) le.push_back(b.labels.at("le"));
  const std::vector<double> want{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  REQUIRE(le.size() == want.size() + 1);
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(std::stod(le[i]) == Approx(want[i]));
  }
  CHECK(le.back() == "+Inf");
}

TEST_CASE("leadership changes move is_leader and count transitions only on change") {
  Registry registry(options());
  registry.on_leadership(false);  // start-up: a follower is not a transition
  CHECK(scrape(registry).value("leader_election_leadership_transitions_total") == 0);

  registry.on_leadership(true);
  auto e = scrape(registry);
  CHECK(e.value("leader_election_is_leader") == 1);
  CHECK(e.value("leader_election_leadership_transitions_total") == 1);

  registry.on_leadership(true);
  CHECK(scrape(registry).value("leader_election_leadership_transitions_total") == 1);

  registry.on_leadership(false);
  e = scrape(registry);
  CHECK(e.value("leader_election_is_leader") == 0);
  CHECK(e.value("leader_election_leadership_transitions_total") == 2);
}

TEST_CASE("renewals feed the counters, the histogram and the timestamp") {
  Registry registry(options());
  registry.on_renewal(true, 30ms);
  auto e = scrape(registry);
  CHECK(e.value("leader_election_renewals_total") == 1);
  CHECK(e.value("leader_election_renewal_failures_total") == 0);
  CHECK(e.value("leader_election_renewal_duration_seconds_count") == 1);
  CHECK(e.value("leader_election_renewal_duration_seconds_sum") == Approx(0.030));
  CHECK(e.value("leader_election_renewal_duration_seconds_bucket", {{"le", "0.025"}}) == 0);
  CHECK(e.value("leader_election_renewal_duration_seconds_bucket", {{"le", "0.05"}}) == 1);
  CHECK(e.value("leader_election_last_renewal_timestamp_seconds") == Approx(1'700'000'000.25));

  registry.on_renewal(false, 3s);
  e = scrape(registry);
  CHECK(e.value("leader_election_renewals_total") == 1);
  CHECK(e.value("leader_election_renewal_failures_total") == 1);
  CHECK(e.value("leader_election_renewal_duration_seconds_count") == 2);
  CHECK(e.value("leader_election_renewal_duration_seconds_bucket", {{"le", "2.5"}}) == 1);
  CHECK(e.value("leader_election_renewal_duration_seconds_bucket", {{"le", "5"}}) == 2);
  // A failure does not move the last successful renewal.
  CHECK(e.value("leader_election_last_renewal_timestamp_seconds") == Approx(1'700'000'000.25));

  registry.set_last_renewal(kWall + 10s);
  CHECK(scrape(registry).value("leader_election_last_renewal_timestamp_seconds") ==
        Approx(1'700'000'010.0));
}

TEST_CASE("observed lease transitions follow the last value seen") {
  Registry registry(options());
  registry.on_observed_transitions(7);
  CHECK(scrape(registry).value("leader_election_observed_lease_transitions") == 7);
  registry.on_observed_transitions(3);  // a recreated Lease starts again
  CHECK(scrape(registry).value("leader_election_observed_lease_transitions") == 3);
}

TEST_CASE("label reconcile actions and failures are counted") {
  Registry registry(options());
  registry.label_action("set");
  registry.label_action("clear");
  registry.label_action("clear");
  registry.label_failure();
  const auto e = scrape(registry);
  CHECK(e.value("leader_election_label_reconcile_actions_total", {{"action", "set"}}) == 1);
  CHECK(e.value("leader_election_label_reconcile_actions_total", {{"action", "clear"}}) == 2);
  CHECK(e.find("leader_election_label_reconcile_actions_total").size() == 2);
  CHECK(e.value("leader_election_label_reconcile_failures_total") == 1);
}

TEST_CASE("API requests are counted by verb and code, directly and as a RequestObserver") {
  Registry registry(options());
  registry.api_request("PUT", 200);
  registry.api_request("PUT", 200);
  registry.api_request("PUT", 409);
  auto observer = registry.request_observer();
  observer("GET", 0, 5ms);
  observer("WATCH", 200, 1s);

  const auto e = scrape(registry);
  CHECK(e.value("leader_election_api_requests_total", {{"verb", "PUT"}, {"code", "200"}}) == 2);
  CHECK(e.value("leader_election_api_requests_total", {{"verb", "PUT"}, {"code", "409"}}) == 1);
  CHECK(e.value("leader_election_api_requests_total", {{"verb", "GET"}, {"code", "0"}}) == 1);
  CHECK(e.value("leader_election_api_requests_total", {{"verb", "WATCH"}, {"code", "200"}}) == 1);
  CHECK(e.find("leader_election_api_requests_total", kScope).size() == 4);
}

// Issue 11, item 6: the leader's cluster-level label check. Only a leader reports it.
TEST_CASE("the label census is reported only from the first leader round until leadership is lost") {
  Registry registry(options());
  registry.on_leadership(true);
  auto e = scrape(registry);
  CHECK(e.type.count("leader_election_labelled_pods") == 0);  // no round yet: no count
  CHECK(e.type.count("leader_election_label_matches_holder") == 0);

  registry.label_census(2, true);
  e = scrape(registry);
  CHECK(e.type.at("leader_election_labelled_pods") == "gauge");
  CHECK(e.type.at("leader_election_label_matches_holder") == "gauge");
  CHECK(e.value("leader_election_labelled_pods", kScope) == 2);
  CHECK(e.value("leader_election_label_matches_holder", kScope) == 1);

  registry.label_census(1, false);
  e = scrape(registry);
  CHECK(e.value("leader_election_labelled_pods", kScope) == 1);
  CHECK(e.value("leader_election_label_matches_holder", kScope) == 0);

  registry.on_leadership(false);
  e = scrape(registry);
  CHECK(e.find("leader_election_labelled_pods").empty());
  CHECK(e.find("leader_election_label_matches_holder").empty());

  registry.on_leadership(true);  // a new term starts without the old term's count
  registry.label_census(1, true);
  e = scrape(registry);
  CHECK(e.value("leader_election_labelled_pods", kScope) == 1);
  CHECK(e.value("leader_election_label_matches_holder", kScope) == 1);
}
