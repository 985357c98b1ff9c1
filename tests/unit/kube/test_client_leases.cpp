// The namespace-wide calls LeaseWatchHub makes: list_leases (items and the list's version)
// and watch_leases (the namespace's leases, no field selector, from that version).
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/client.hpp>

using kle::api::ErrorKind;
using kle::api::Result;
using kle::kube::Client;
using kle::kube::LeaseList;
using kle::kube::LeaseWatchEvent;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using kle::testing::http_chunk;
using kle::testing::kLastChunk;
using kle::testing::run_against;
namespace net = boost::asio;

namespace {

Result<LeaseList> list_against(const FakeReply& reply, std::vector<FakeRequest>& requests) {
  std::optional<Result<LeaseList>> out;
  net::io_context io;
  FakeApiServer server(io, [&](const FakeRequest&) { return reply; });
  Client client(io.get_executor(), server.test_config());
  run_against(io, server, [&]() -> net::awaitable<void> { out = co_await client.list_leases("ns"); });
  requests = server.requests();
  return std::move(*out);
}

}  // namespace

TEST_CASE("list_leases: every item and the list's resourceVersion", "[client][leases]") {
  std::vector<FakeRequest> requests;
  auto list = list_against(
      FakeReply::json(200, R"({"kind":"LeaseList","metadata":{"resourceVersion":"77"},"items":[)"
                           R"({"metadata":{"name":"a","namespace":"ns","resourceVersion":"70"},"spec":{"holderIdentity":"x"}},)"
                           R"({"metadata":{"name":"b","namespace":"ns","resourceVersion":"71"},"spec":{}}]})"),
      requests);
  REQUIRE(list.ok());
  CHECK(list->resource_version == "77");
  REQUIRE(list->items.size() == 2);
  CHECK(list->items[0].name == "a");
  CHECK(list->items[0].spec.holder_identity == "x");
  CHECK(list->items[1].resource_version == "71");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
}

TEST_CASE("list_leases: an empty namespace has no items; a list without a version is refused", "[client][leases]") {
  std::vector<FakeRequest> requests;
  auto empty = list_against(FakeReply::json(200, R"({"metadata":{"resourceVersion":"5"},"items":[]})"), requests);
  REQUIRE(empty.ok());
  CHECK(empty->items.empty());
  auto bad = list_against(FakeReply::json(200, R"({"metadata":{},"items":[]})"), requests);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().is(ErrorKind::bad_response));
}

TEST_CASE("watch_leases: the namespace's leases from a version, without a field selector", "[client][leases]") {
  FakeReply reply;
  const std::string event = R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"ns","resourceVersion":"78"},"spec":{}}})"
                            "\n";
  reply.raw = {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
               http_chunk(event), std::string(kLastChunk)};
  net::io_context io;
  FakeApiServer server(io, [&](const FakeRequest&) { return reply; });
  Client client(io.get_executor(), server.test_config());
  std::vector<LeaseWatchEvent> events;
  std::optional<Result<void>> result;
  run_against(io, server, [&]() -> net::awaitable<void> {
    std::function<void(const LeaseWatchEvent&)> on_event = [&](const LeaseWatchEvent& e) { events.push_back(e); };
    result = co_await client.watch_leases("ns", "77", std::move(on_event));
  });
  REQUIRE(result);
  CHECK(result->ok());
  REQUIRE(events.size() == 1);
  CHECK(events[0].lease->name == "a");
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].target ==
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases?watch=1&resourceVersion=77&timeoutSeconds=290"
        "&allowWatchBookmarks=true");
}
