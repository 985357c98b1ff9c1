// Client against the in-process fake: paths, verbs, bodies, typed errors and the observer.
// (GCC 12 miscompiles braced temporaries inside co_await: arguments are named variables.)
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/client.hpp>

using namespace std::chrono_literals;
using kle::api::ErrorKind;
using kle::api::Lease;
using kle::api::Result;
using kle::kube::Client;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using kle::testing::run_against;
namespace net = boost::asio;

namespace {

const std::string kLeaseJson = R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
  "metadata":{"name":"lk","namespace":"ns","resourceVersion":"42","uid":"u1"},
  "spec":{"holderIdentity":"a","leaseDurationSeconds":15,"renewTime":"2026-11-24T19:37:30.123456Z",
          "leaseTransitions":2}})";

std::string status_json(int code, const std::string& reason, const std::string& message) {
  return nlohmann::json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                        {"message", message}, {"reason", reason}, {"code", code}}
      .dump();
}

// Runs `fn(client)` against a server that answers every request with `handler`.
template <class Fn>
std::vector<FakeRequest> with_client(kle::testing::FakeHandler handler, Fn fn) {
  net::io_context io;
  FakeApiServer server(io, std::move(handler));
  Client client(io.get_executor(), server.test_config());
  run_against(io, server, [&]() -> net::awaitable<void> { co_await fn(client); });
  return server.requests();
}

Result<Lease> get_lease_with(const FakeReply& reply) {
  std::optional<Result<Lease>> out;
  with_client([&](const FakeRequest&) { return reply; }, [&](Client& c) -> net::awaitable<void> {
    out = co_await c.get_lease("ns", "lk");
  });
  return std::move(*out);
}

}  // namespace

TEST_CASE("client: get_lease GETs the lease path and decodes it", "[client]") {
  std::optional<Result<Lease>> out;
  auto reqs = with_client([](const FakeRequest&) { return FakeReply::json(200, kLeaseJson); },
                          [&](Client& c) -> net::awaitable<void> { out = co_await c.get_lease("ns", "lk"); });
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lk");
  REQUIRE(out->ok());
  CHECK((*out)->resource_version == "42");
  CHECK((*out)->spec.holder_identity == "a");
  CHECK((*out)->spec.lease_transitions == 2);
}

TEST_CASE("client: update_lease PUTs with the resourceVersion, 409 is a conflict", "[client]") {
  std::optional<Result<Lease>> out;
  auto reqs = with_client(
      [](const FakeRequest&) {
        return FakeReply::json(409, status_json(409, "Conflict",
                                                "Operation cannot be fulfilled on leases.coordination.k8s.io "
                                                "\"lk\": the object has been modified"));
      },
      [&](Client& c) -> net::awaitable<void> {
        Lease l = kle::api::parse_lease(kLeaseJson).value();
        l.spec.holder_identity = "b";
        out = co_await c.update_lease(std::move(l));
      });
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "PUT");
  CHECK(reqs[0].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lk");
  CHECK(reqs[0].content_type == "application/json");
  const auto sent = nlohmann::json::parse(reqs[0].body);
  CHECK(sent["metadata"]["resourceVersion"] == "42");
  CHECK(sent["spec"]["holderIdentity"] == "b");
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::conflict);
  CHECK(out->error().http_status == 409);
  CHECK_THAT(out->error().message, Catch::Contains("the object has been modified"));
}

TEST_CASE("client: update_lease refuses an unconditional write", "[client]") {
  std::optional<Result<Lease>> out;
  auto reqs = with_client([](const FakeRequest&) { return FakeReply::json(200, kLeaseJson); },
                          [&](Client& c) -> net::awaitable<void> {
                            Lease l;
                            l.namespace_ = "ns";
                            l.name = "lk";
                            out = co_await c.update_lease(std::move(l));
                          });
  CHECK(reqs.empty());
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::invalid);
}

TEST_CASE("client: 403 is forbidden with the server's message", "[client]") {
  const std::string msg =
      "leases.coordination.k8s.io \"lk\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get "
      "resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"ns\"";
  auto out = get_lease_with(FakeReply::json(403, status_json(403, "Forbidden", msg)));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().kind == ErrorKind::forbidden);
  CHECK(out.error().reason == "Forbidden");
  CHECK(out.error().message == msg);
}

TEST_CASE("client: 429 carries Retry-After", "[client]") {
  auto reply = FakeReply::json(429, status_json(429, "TooManyRequests", "slow down"));
  reply.headers = {{"Retry-After", "7"}};
  auto out = get_lease_with(reply);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().kind == ErrorKind::too_many_requests);
  CHECK(out.error().retry_after == 7s);
}

TEST_CASE("client: 500 is a server error, 404 not found", "[client]") {
  auto five = get_lease_with(FakeReply::json(500, "internal error, not JSON"));
  REQUIRE_FALSE(five.ok());
  CHECK(five.error().kind == ErrorKind::server_error);
  auto four = get_lease_with(FakeReply::json(404, status_json(404, "NotFound", "leases \"lk\" not found")));
  REQUIRE_FALSE(four.ok());
  CHECK(four.error().kind == ErrorKind::not_found);
}

TEST_CASE("client: a 200 that is not a Lease is a bad response", "[client]") {
  auto out = get_lease_with(FakeReply::json(200, "<html>proxy</html>"));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().kind == ErrorKind::bad_response);
}

TEST_CASE("client: create_lease POSTs to the collection, delete_lease DELETEs", "[client]") {
  std::optional<Result<Lease>> created;
  std::optional<Result<void>> deleted;
  auto reqs = with_client(
      [](const FakeRequest& r) {
        return r.method == "POST" ? FakeReply::json(201, kLeaseJson) : FakeReply::json(200, status_json(200, "", ""));
      },
      [&](Client& c) -> net::awaitable<void> {
        Lease l;
        l.namespace_ = "ns";
        l.name = "lk";
        l.spec.holder_identity = "a";
        created = co_await c.create_lease(std::move(l));
        deleted = co_await c.delete_lease("ns", "lk");
      });
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
  CHECK(nlohmann::json::parse(reqs[0].body)["metadata"]["name"] == "lk");
  CHECK(reqs[1].method == "DELETE");
  CHECK(reqs[1].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lk");
  CHECK(created->ok());
  CHECK(deleted->ok());
}

TEST_CASE("client: pods are listed by an encoded selector and labels merge-patched", "[client]") {
  const std::string pod = R"({"metadata":{"name":"p1","namespace":"ns","resourceVersion":"5",
    "labels":{"app":"x","leader-elector/leader":"true"}},"status":{"phase":"Running","podIP":"10.0.0.1"}})";
  std::optional<Result<kle::api::PodList>> list;
  std::optional<Result<kle::api::Pod>> patched;
  auto reqs = with_client(
      [&](const FakeRequest& r) {
        if (r.method == "GET") return FakeReply::json(200, R"({"metadata":{"resourceVersion":"9"},"items":[)" + pod + "]}");
        return FakeReply::json(200, pod);
      },
      [&](Client& c) -> net::awaitable<void> {
        list = co_await c.list_pods("ns", "leader-elector/leader=true,app in (x)");
        std::map<std::string, std::optional<std::string>> labels{{"leader-elector/leader", std::nullopt}};
        patched = co_await c.patch_pod_labels("ns", "p1", std::move(labels));
      });
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].target == "/api/v1/namespaces/ns/pods?labelSelector=leader-elector%2Fleader%3Dtrue%2Capp%20in%20%28x%29");
  REQUIRE(list->ok());
  REQUIRE((*list)->items.size() == 1);
  CHECK((*list)->items[0].labels.at("app") == "x");
  CHECK(reqs[1].method == "PATCH");
  CHECK(reqs[1].target == "/api/v1/namespaces/ns/pods/p1");
  CHECK(reqs[1].content_type == "application/merge-patch+json");
  CHECK(nlohmann::json::parse(reqs[1].body) ==
        nlohmann::json::parse(R"({"metadata":{"labels":{"leader-elector/leader":null}}})"));
  CHECK(patched->ok());
}

TEST_CASE("client: the observer sees every request's verb and status", "[client]") {
  std::vector<std::tuple<std::string, int>> seen;
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest& r) {
    if (r.method == "GET") return FakeReply::json(200, kLeaseJson);
    return FakeReply::json(409, status_json(409, "Conflict", "stale"));
  });
  kle::kube::ClientOptions opts;
  Client client(io.get_executor(), server.test_config(), opts);
  client.set_observer([&](std::string_view verb, int status, std::chrono::steady_clock::duration took) {
    CHECK(took >= std::chrono::steady_clock::duration::zero());
    seen.emplace_back(std::string(verb), status);
  });
  run_against(io, server, [&]() -> net::awaitable<void> {
    auto got = co_await client.get_lease("ns", "lk");
    auto put = co_await client.update_lease(std::move(got).value());
    (void)put;
  });
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_tuple(std::string("GET"), 200));
  CHECK(seen[1] == std::make_tuple(std::string("PUT"), 409));
}

TEST_CASE("client: a request that never gets a response is observed with status 0", "[client]") {
  std::vector<int> statuses;
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) {
    FakeReply r;
    r.drop = true;
    return r;
  });
  Client client(io.get_executor(), server.test_config());
  client.set_observer([&](std::string_view, int status, auto) { statuses.push_back(status); });
  std::optional<Result<Lease>> out;
  run_against(io, server, [&]() -> net::awaitable<void> { out = co_await client.get_lease("ns", "lk"); });
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::transport);
  CHECK(statuses == std::vector<int>{0});
}
