#include <catch2/catch.hpp>

#include <kle/labeler/plan.hpp>

using kle::api::Pod;
using kle::labeler::LabelChange;
using kle::labeler::LeaderLabel;

namespace {
Pod pod(std::string name, std::map<std::string, std::string> labels = {}) {
  Pod p;
  p.name = std::move(name);
  p.labels = std::move(labels);
  return p;
}
const LeaderLabel kLabel{"leader-elector/leader", "true"};
}  // namespace

TEST_CASE("leader clears every other labelled pod before labelling itself") {
  const auto changes = plan_as_leader(
      "b", {pod("a", {{kLabel.key, "true"}}), pod("c", {{kLabel.key, "true"}})}, kLabel);
  REQUIRE(changes == std::vector<LabelChange>{{"a", false}, {"c", false}, {"b", true}});
}

TEST_CASE("a leader already labelled only clears the stale ones") {
  const auto changes = plan_as_leader("b", {pod("b", {{kLabel.key, "true"}}), pod("a", {{kLabel.key, "true"}})}, kLabel);
  REQUIRE(changes == std::vector<LabelChange>{{"a", false}});
}

TEST_CASE("pods whose label value differs are left alone (selector lag)") {
  const auto changes = plan_as_leader("b", {pod("a", {{kLabel.key, "false"}})}, kLabel);
  REQUIRE(changes == std::vector<LabelChange>{{"b", true}});
}

TEST_CASE("a follower clears only its own leader value") {
  CHECK(plan_as_follower(pod("a", {{kLabel.key, "true"}}), kLabel) == std::vector<LabelChange>{{"a", false}});
  CHECK(plan_as_follower(pod("a", {{kLabel.key, "other"}}), kLabel).empty());
  CHECK(plan_as_follower(pod("a"), kLabel).empty());
}

TEST_CASE("leader label parsing names what is wrong") {
  std::string why;
  auto ok = kle::labeler::parse_leader_label("example.com/leader=yes", why);
  REQUIRE(ok);
  CHECK(ok->key == "example.com/leader");
  CHECK(ok->value == "yes");
  CHECK_FALSE(kle::labeler::parse_leader_label("no-equals", why));
  CHECK(why.find("KEY=VALUE") != std::string::npos);
  CHECK_FALSE(kle::labeler::parse_leader_label("Bad_Prefix/x=1", why));
  CHECK(why.find("key") != std::string::npos);
  CHECK_FALSE(kle::labeler::parse_leader_label("k=", why));
  CHECK(why.find("value") != std::string::npos);
  CHECK_FALSE(kle::labeler::parse_leader_label("k=-bad", why));
  CHECK_FALSE(kle::labeler::parse_leader_label(std::string(64, 'a') + "=1", why));
}

// Issue 13: a prefix of empty dot-separated parts passed the old character-class check, and
// then every patch failed with 422. The prefix is a DNS-1123 subdomain, label by label.
TEST_CASE("leader label prefixes must be DNS-1123 subdomains") {
  std::string why;
  for (const char* bad : {"a..b/x=true", ".a/x=true", "a./x=true", "a.-b/x=true", "a-.b/x=true", "/x=true"}) {
    INFO(bad);
    CHECK_FALSE(kle::labeler::parse_leader_label(bad, why));
  }
  CHECK(kle::labeler::parse_leader_label("a.b-c.d/x=true", why));
  CHECK_FALSE(kle::labeler::is_label_key("a..b/x"));
}
