// watch_lease against a hand-scripted chunked stream: events split across chunk boundaries,
// bookmarks, 410 Gone, torn streams, and cancellation (Client::close and the caller's slot).
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/client.hpp>
#include <kle/kube/lease_lock.hpp>

using kle::api::ErrorKind;
using kle::api::Result;
using kle::kube::Client;
using kle::kube::LeaseWatchEvent;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using kle::testing::http_chunk;
using kle::testing::kLastChunk;
using kle::testing::run_against;
namespace net = boost::asio;

namespace {

const std::string kHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string lease_object(const std::string& rv, const std::string& holder) {
  return R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
         R"("metadata":{"name":"lk","namespace":"ns","resourceVersion":")" + rv + R"("},)" +
         R"("spec":{"holderIdentity":")" + holder + R"(","leaseDurationSeconds":15}})";
}

std::string lease_event(const std::string& type, const std::string& rv, const std::string& holder) {
  return R"({"type":")" + type + R"(","object":)" + lease_object(rv, holder) + "}\n";
}

// Cuts `stream` into chunks at the given offsets, so events straddle chunk boundaries.
std::vector<std::string> chunked(const std::string& stream, const std::vector<std::size_t>& cuts, bool finish) {
  std::vector<std::string> out{kHead};
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    out.push_back(http_chunk(stream.substr(from, cut - from)));
    from = cut;
  }
  out.push_back(http_chunk(stream.substr(from)));
  if (finish) out.emplace_back(kLastChunk);
  return out;
}

struct WatchRun {
  std::optional<Result<void>> result;
  std::vector<LeaseWatchEvent> events;
  std::vector<FakeRequest> requests;
  std::vector<std::pair<std::string, int>> observed;  // (verb, status) from the observer
};

WatchRun watch_against(FakeReply reply) {
  WatchRun run;
  net::io_context io;
  FakeApiServer server(io, [&](const FakeRequest&) { return reply; });
  Client client(io.get_executor(), server.test_config());
  client.set_observer([&](std::string_view verb, int status, auto) { run.observed.emplace_back(verb, status); });
  run_against(io, server, [&]() -> net::awaitable<void> {
    std::function<void(const LeaseWatchEvent&)> on_event = [&](const LeaseWatchEvent& e) { run.events.push_back(e); };
    run.result = co_await client.watch_lease("ns", "lk", "41", std::move(on_event));
  });
  run.requests = server.requests();
  return run;
}

}  // namespace

TEST_CASE("watch: events split across chunk boundaries arrive whole and in order", "[client][watch]") {
  const std::string stream = lease_event("ADDED", "42", "a") + lease_event("MODIFIED", "43", "b") +
                             R"({"type":"BOOKMARK","object":{"kind":"Lease","metadata":{"resourceVersion":"50"}}})" +
                             "\n" + lease_event("DELETED", "51", "b");
  FakeReply reply;
  // Cuts inside the first event, right after a newline, and inside the "type" key.
  reply.raw = chunked(stream, {10, stream.find('\n') + 1, stream.find('\n') + 5, stream.size() - 3}, true);
  auto run = watch_against(reply);
  REQUIRE(run.result->ok());
  REQUIRE(run.events.size() == 4);
  CHECK(run.events[0].type == LeaseWatchEvent::Type::added);
  CHECK(run.events[0].lease->resource_version == "42");
  CHECK(run.events[0].lease->spec.holder_identity == "a");
  CHECK(run.events[1].type == LeaseWatchEvent::Type::modified);
  CHECK(run.events[1].lease->spec.holder_identity == "b");
  CHECK(run.events[2].type == LeaseWatchEvent::Type::bookmark);
  CHECK(run.events[2].lease->resource_version == "50");
  CHECK(run.events[3].type == LeaseWatchEvent::Type::deleted);
  REQUIRE(run.requests.size() == 1);
  CHECK(run.requests[0].target ==
        "/apis/coordination.k8s.io/v1/namespaces/ns/leases?watch=1&fieldSelector=metadata.name%3Dlk"
        "&resourceVersion=41&timeoutSeconds=290&allowWatchBookmarks=true");
  CHECK(run.observed == std::vector<std::pair<std::string, int>>{{"WATCH", 200}});
}

TEST_CASE("watch: an ERROR event with code 410 is gone", "[client][watch]") {
  const std::string stream =
      lease_event("MODIFIED", "43", "a") +
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)"
      R"x("message":"too old resource version: 41 (43)","reason":"Expired","code":410}})x" "\n";
  FakeReply reply;
  reply.raw = chunked(stream, {stream.size() - 20}, true);
  auto run = watch_against(reply);
  REQUIRE_FALSE(run.result->ok());
  CHECK(run.result->error().kind == ErrorKind::gone);
  CHECK_THAT(run.result->error().message, Catch::Contains("too old resource version"));
  CHECK(run.events.size() == 1);
}

TEST_CASE("watch: a stream cut before its last chunk is a transport error", "[client][watch]") {
  FakeReply reply;
  reply.raw = chunked(lease_event("ADDED", "42", "a"), {}, false);
  reply.close_after = true;
  auto run = watch_against(reply);
  REQUIRE_FALSE(run.result->ok());
  CHECK(run.result->error().kind == ErrorKind::transport);
  CHECK(run.events.size() == 1);  // what arrived before the cut was delivered
}

TEST_CASE("watch: a non-2xx answer is a typed error", "[client][watch]") {
  auto run = watch_against(FakeReply::json(403, R"({"kind":"Status","code":403,"reason":"Forbidden",)"
                                                R"("message":"cannot watch resource \"leases\""})"));
  REQUIRE_FALSE(run.result->ok());
  CHECK(run.result->error().kind == ErrorKind::forbidden);
  CHECK_THAT(run.result->error().message, Catch::Contains("cannot watch"));
  CHECK(run.observed == std::vector<std::pair<std::string, int>>{{"WATCH", 403}});
}

TEST_CASE("watch: garbage in the stream is a bad response", "[client][watch]") {
  FakeReply reply;
  reply.raw = chunked("this is not json\n", {}, true);
  auto run = watch_against(reply);
  REQUIRE_FALSE(run.result->ok());
  CHECK(run.result->error().kind == ErrorKind::bad_response);
}

TEST_CASE("watch: Client::close() ends a quiet watch as cancelled", "[client][watch]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) {
    FakeReply r;
    r.raw = {kHead, http_chunk(lease_event("ADDED", "42", "a"))};
    r.hang = true;  // then nothing more: the watch waits
    return r;
  });
  Client client(io.get_executor(), server.test_config());
  std::optional<Result<void>> result;
  int events = 0;
  run_against(io, server, [&]() -> net::awaitable<void> {
    std::function<void(const LeaseWatchEvent&)> on_event = [&](const LeaseWatchEvent&) {
      ++events;
      net::post(io, [&] { client.close(); });  // stop() while the watch is blocked reading
    };
    result = co_await client.watch_lease("ns", "lk", "", std::move(on_event));
  });
  CHECK(events == 1);
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().kind == ErrorKind::cancelled);
  CHECK(server.requests()[0].target.find("resourceVersion") == std::string::npos);
}

TEST_CASE("watch: the caller's cancellation slot ends the watch", "[client][watch]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) {
    FakeReply r;
    r.raw = {kHead, http_chunk(lease_event("ADDED", "42", "a"))};
    r.hang = true;
    return r;
  });
  Client client(io.get_executor(), server.test_config());
  net::cancellation_signal cancel;
  std::optional<Result<void>> result;
  auto watch = [&]() -> net::awaitable<void> {
    std::function<void(const LeaseWatchEvent&)> on_event = [&](const LeaseWatchEvent&) {
      net::post(io, [&] { cancel.emit(net::cancellation_type::terminal); });
    };
    result = co_await client.watch_lease("ns", "lk", "42", std::move(on_event));
  };
  bool done = false;
  net::co_spawn(io, watch(), net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                  done = true;
                  server.stop();
                  if (e) std::rethrow_exception(e);
                }));
  io.run();
  REQUIRE(done);
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().kind == ErrorKind::cancelled);
}

TEST_CASE("lease lock: maps watch events 1:1 and pins name and namespace", "[client][lock]") {
  const std::string stream = lease_event("ADDED", "42", "a") + lease_event("MODIFIED", "43", "b");
  net::io_context io;
  FakeApiServer server(io, [&](const FakeRequest& r) {
    if (r.method == "POST") return FakeReply::json(201, lease_object("40", "me"));
    FakeReply w;
    w.raw = chunked(stream, {7}, true);
    return w;
  });
  Client client(io.get_executor(), server.test_config());
  kle::kube::KubeLeaseLock lock(client, "ns", "lk");
  std::vector<kle::election::LeaseEvent> events;
  std::optional<Result<kle::api::Lease>> created;
  std::optional<Result<void>> watched;
  run_against(io, server, [&]() -> net::awaitable<void> {
    kle::api::Lease l;
    l.name = "ignored";
    created = co_await lock.create(std::move(l));
    std::function<void(const kle::election::LeaseEvent&)> cb = [&](const auto& e) { events.push_back(e); };
    watched = co_await lock.watch("40", std::move(cb));
  });
  CHECK(lock.lease_namespace() == "ns");
  CHECK(lock.lease_name() == "lk");
  REQUIRE(created->ok());
  CHECK(server.requests()[0].target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
  CHECK(nlohmann::json::parse(server.requests()[0].body)["metadata"]["name"] == "lk");
  REQUIRE(watched->ok());
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == kle::election::LeaseEvent::Type::added);
  CHECK(events[1].type == kle::election::LeaseEvent::Type::modified);
  CHECK(events[1].lease->spec.holder_identity == "b");
}
