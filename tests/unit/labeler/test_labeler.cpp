#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <kle/labeler/labeler.hpp>

namespace asio = boost::asio;
using kle::api::Error;
using kle::api::ErrorKind;
using kle::api::Pod;
using kle::api::PodList;
using kle::api::Result;
using kle::labeler::LabelPatch;

namespace {

// Pods in memory; selector support is just "key=value", which is all the labeler sends.
class FakePods final : public kle::labeler::PodApi {
 public:
  std::map<std::string, Pod> pods;
  std::vector<std::string> calls;
  std::optional<ErrorKind> fail_patch_of;  // fail patches with this kind
  std::string fail_pod;
  std::function<void()> on_get;  // runs while a GET is "in flight", before it answers

  void add(const std::string& name, std::map<std::string, std::string> labels = {}) {
    Pod p;
    p.name = name;
    p.labels = std::move(labels);
    pods[name] = p;
  }
  asio::awaitable<Result<Pod>> get(std::string name) override {
    calls.push_back("get " + name);
    if (on_get) on_get();
    auto it = pods.find(name);
    if (it == pods.end()) co_return Error{ErrorKind::not_found, 404, "NotFound", "pods \"" + name + "\" not found"};
    co_return it->second;
  }
  asio::awaitable<Result<PodList>> list(std::string selector) override {
    calls.push_back("list " + selector);
    const auto eq = selector.find('=');
    PodList out;
    for (const auto& [name, p] : pods) {
      auto it = p.labels.find(selector.substr(0, eq));
      if (it != p.labels.end() && it->second == selector.substr(eq + 1)) out.items.push_back(p);
    }
    co_return out;
  }
  asio::awaitable<Result<Pod>> patch_labels(std::string name, LabelPatch patch) override {
    calls.push_back("patch " + name);
    if (fail_patch_of && name == fail_pod) co_return Error{*fail_patch_of, 403, "Forbidden", "denied"};
    auto it = pods.find(name);
    if (it == pods.end()) co_return Error{ErrorKind::not_found, 404, "NotFound", "gone"};
    for (const auto& [k, v] : patch) {
      if (v) it->second.labels[k] = *v;
      else it->second.labels.erase(k);
    }
    co_return it->second;
  }
};

template <class F>
bool run(F&& f) {
  asio::io_context ioc;
  bool out = false;
  asio::co_spawn(ioc, std::forward<F>(f)(), [&](std::exception_ptr e, bool r) {
    if (e) std::rethrow_exception(e);
    out = r;
  });
  ioc.run();
  return out;
}

const std::string kKey = "leader-elector/leader";

}  // namespace

TEST_CASE("the leader ends up the only labelled pod, and hooks count the actions") {
  FakePods api;
  api.add("a", {{kKey, "true"}});  // a crashed former leader
  api.add("b");
  api.add("c", {{kKey, "true"}, {"app", "x"}});
  int sets = 0, clears = 0;
  kle::labeler::Labeler labeler(api, "b", {kKey, "true"}, kle::log::null_logger(),
                                {[&](std::string_view a) { (a == "set" ? sets : clears)++; }, {}, {}});
  REQUIRE(run([&] { return labeler.reconcile_as_leader([] { return true; }); }));
  CHECK(api.pods["b"].labels.at(kKey) == "true");
  CHECK(api.pods["a"].labels.count(kKey) == 0);
  CHECK(api.pods["c"].labels.count(kKey) == 0);
  CHECK(api.pods["c"].labels.at("app") == "x");  // other labels untouched
  CHECK(sets == 1);
  CHECK(clears == 2);
}

TEST_CASE("a leader that loses the lease mid-round stops writing") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b");
  kle::labeler::Labeler labeler(api, "b", {kKey, "true"}, kle::log::null_logger());
  CHECK_FALSE(run([&] { return labeler.reconcile_as_leader([] { return false; }); }));
  CHECK(api.pods["a"].labels.at(kKey) == "true");
  CHECK(api.calls == std::vector<std::string>{"list leader-elector/leader=true"});
}

TEST_CASE("a failed patch is reported, the rest of the round still runs") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b");
  api.fail_patch_of = ErrorKind::forbidden;
  api.fail_pod = "a";
  int failures = 0;
  kle::labeler::Labeler labeler(api, "b", {kKey, "true"}, kle::log::null_logger(), {{}, [&] { ++failures; }, {}});
  CHECK_FALSE(run([&] { return labeler.reconcile_as_leader([] { return true; }); }));
  CHECK(failures == 1);
  CHECK(api.pods["b"].labels.at(kKey) == "true");
}

TEST_CASE("a follower clears its own stale label and nothing else") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b", {{kKey, "true"}});
  kle::labeler::Labeler labeler(api, "a", {kKey, "true"}, kle::log::null_logger());
  REQUIRE(run([&] { return labeler.reconcile_as_follower([] { return true; }); }));
  CHECK(api.pods["a"].labels.count(kKey) == 0);
  CHECK(api.pods["b"].labels.at(kKey) == "true");
}

TEST_CASE("a follower whose pod is missing reports the failure") {
  FakePods api;
  int failures = 0;
  kle::labeler::Labeler labeler(api, "ghost", {kKey, "true"}, kle::log::null_logger(), {{}, [&] { ++failures; }, {}});
  CHECK_FALSE(run([&] { return labeler.reconcile_as_follower([] { return true; }); }));
  CHECK(failures == 1);
}

// Issue 13: the follower's cleanup GETs its pod, and a quick re-election (with the new leader
// round labelling us) can land before that GET answers. Clearing the label then would leave
// the leader unrouted until the next periodic reconcile.
TEST_CASE("a follower round that finds itself re-elected mid-round does not clear the label") {
  FakePods api;
  api.add("a", {{kKey, "true"}});  // our label from the term we just lost
  bool leading = false;
  api.on_get = [&] { leading = true; };  // re-elected while the GET was in flight
  kle::labeler::Labeler labeler(api, "a", {kKey, "true"}, kle::log::null_logger());
  CHECK_FALSE(run([&] { return labeler.reconcile_as_follower([&] { return !leading; }); }));
  CHECK(api.pods["a"].labels.at(kKey) == "true");
  CHECK(api.calls == std::vector<std::string>{"get a"});
}

// Issue 11, item 6: the leader's round reports how many pods carry the label, as the round
// left them, and whether its own (the holder's) is one; from the round's one list.
namespace {

struct CensusRound {
  bool ok = false;
  std::vector<kle::labeler::LabelCensus> reported;
};

CensusRound leader_round_as(FakePods& api, const std::string& own, const std::function<bool()>& still_leader) {
  CensusRound round;
  kle::labeler::LabelerHooks hooks;
  hooks.on_census = [&](const kle::labeler::LabelCensus& c) { round.reported.push_back(c); };
  kle::labeler::Labeler labeler(api, own, {kKey, "true"}, kle::log::null_logger(), hooks);
  round.ok = run([&] { return labeler.reconcile_as_leader(still_leader); });
  return round;
}

const auto kLeading = [] { return true; };

}  // namespace

TEST_CASE("a leader round reports the labelled pods it leaves behind, from its one list") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b");
  api.add("c", {{kKey, "true"}});
  const auto round = leader_round_as(api, "b", kLeading);
  REQUIRE(round.ok);
  CHECK(round.reported == std::vector<kle::labeler::LabelCensus>{{1, true}});
  CHECK(api.calls == std::vector<std::string>{"list leader-elector/leader=true", "patch a", "patch c", "patch b"});
}

TEST_CASE("a clear or a set the apiserver refuses shows in the census") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b");
  api.fail_patch_of = ErrorKind::forbidden;
  SECTION("the stale label stays: two labelled pods") {
    api.fail_pod = "a";
    const auto round = leader_round_as(api, "b", kLeading);
    CHECK_FALSE(round.ok);
    CHECK(round.reported == std::vector<kle::labeler::LabelCensus>{{2, true}});
  }
  SECTION("ours is not set: none labelled, not the holder") {
    api.fail_pod = "b";
    const auto round = leader_round_as(api, "b", kLeading);
    CHECK_FALSE(round.ok);
    CHECK(round.reported == std::vector<kle::labeler::LabelCensus>{{0, false}});
  }
}

TEST_CASE("a leader round that loses the lease reports no census") {
  FakePods api;
  api.add("a", {{kKey, "true"}});
  api.add("b");
  CHECK(leader_round_as(api, "b", [] { return false; }).reported.empty());
  // Leading for both writes, lost by the end of the round.
  int checks = 0;
  CHECK(leader_round_as(api, "b", [&] { return ++checks <= 2; }).reported.empty());
  CHECK(checks == 3);
}

// Issue 11: after kill -9 the kubelet restarts the container in the same pod, which still
// carries the label of its last life. The controller's start-up follower round clears it even
// though the Lease still names this pod (the new process is not leading yet): a brief unroute
// if it wins the lease back, never a route to a follower.
TEST_CASE("a restarted follower clears its own label even while the lease still names its pod") {
  FakePods api;
  api.add("me", {{kKey, "true"}, {"app", "x"}});
  int clears = 0;
  kle::labeler::Labeler labeler(api, "me", {kKey, "true"}, kle::log::null_logger(),
                                {[&](std::string_view a) { clears += a == "clear" ? 1 : 0; }, {}, {}});
  REQUIRE(run([&] { return labeler.reconcile_as_follower([] { return true; }); }));
  CHECK(api.pods["me"].labels.count(kKey) == 0);
  CHECK(api.pods["me"].labels.at("app") == "x");
  CHECK(clears == 1);
  CHECK(api.calls == std::vector<std::string>{"get me", "patch me"});
}
