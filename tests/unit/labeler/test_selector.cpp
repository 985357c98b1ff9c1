// --pod-selector: parsing, and that KubePodApi really sends it with the leader label, so a
// leader's stale-label cleanup only ever sees its own release's pods.
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/client.hpp>
#include <kle/labeler/pod_api.hpp>
#include <kle/labeler/selector.hpp>

namespace net = boost::asio;
using kle::labeler::parse_pod_selector;
using kle::labeler::PodSelector;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;

namespace {

std::optional<PodSelector> parsed(const std::string& text) {
  std::string why;
  auto s = parse_pod_selector(text, why);
  if (!s) INFO(why);
  return s;
}

std::string why_not(const std::string& text) {
  std::string why;
  REQUIRE_FALSE(parse_pod_selector(text, why));
  return why;
}

// The target of the one list request KubePodApi makes with `selector`.
std::string list_target(const PodSelector& selector) {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) { return FakeReply::json(200, R"({"kind":"PodList","items":[]})"); });
  kle::kube::Client client(io.get_executor(), server.test_config());
  kle::labeler::KubePodApi pods(client, "ns", selector);
  kle::testing::run_against(io, server, [&]() -> net::awaitable<void> {
    auto listed = co_await pods.list("leader-elector/leader=true");
    REQUIRE(listed.ok());
  });
  REQUIRE(server.requests().size() == 1);
  return server.requests()[0].target;
}

}  // namespace

TEST_CASE("pod selector: equality terms in order, empty means every pod") {
  CHECK(parsed("")->empty());
  const auto s = parsed("app.kubernetes.io/name=leader-elector,app.kubernetes.io/instance=a");
  REQUIRE(s);
  CHECK(s->text() == "app.kubernetes.io/name=leader-elector,app.kubernetes.io/instance=a");
  CHECK(parsed("tier=")->text() == "tier=");  // an empty value is a valid label value
}

TEST_CASE("pod selector: bad input is refused with the reason") {
  CHECK(why_not("app").find("not KEY=VALUE") != std::string::npos);
  CHECK(why_not("app!=x").find("not KEY=VALUE") != std::string::npos);
  CHECK(why_not("app==x").find("not KEY=VALUE") != std::string::npos);
  CHECK(why_not("app in (a,b)").find("not KEY=VALUE") != std::string::npos);
  CHECK(why_not("a=b,").find("not KEY=VALUE") != std::string::npos);
  CHECK(why_not("a..b/x=y").find("not a valid label name") != std::string::npos);
  CHECK(why_not("app=-x").find("not a valid label value") != std::string::npos);
  CHECK(why_not("app=a,app=b").find("more than once") != std::string::npos);
}

TEST_CASE("pod selector: KubePodApi lists by the leader label and the pod selector") {
  CHECK(list_target({}) == "/api/v1/namespaces/ns/pods?labelSelector=leader-elector%2Fleader%3Dtrue");
  std::string why;
  const auto own = parse_pod_selector("app.kubernetes.io/instance=a,tier=web", why);
  REQUIRE(own);
  CHECK(list_target(*own) == "/api/v1/namespaces/ns/pods?labelSelector=leader-elector%2Fleader%3Dtrue%2C"
                             "app.kubernetes.io%2Finstance%3Da%2Ctier%3Dweb");
}
