// Transport::warm (issue 14, item 2): one verified TLS connection into the pool and no
// request; the next request reuses it; a young pooled connection makes it a no-op, an
// expired one does not.
#include <catch2/catch.hpp>

#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/transport.hpp>

using namespace std::chrono_literals;
using namespace kle::kube;
using namespace kle::testing;
using kle::api::Result;
namespace net = boost::asio;

namespace {
HttpRequest get(std::string target) { return {boost::beast::http::verb::get, std::move(target), {}, {}}; }
}  // namespace

TEST_CASE("transport: warm() opens a pooled connection without a request; the next request uses it",
          "[transport]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) { return FakeReply::json(200, "{}"); });
  Transport t(io.get_executor(), server.test_config());
  std::optional<Result<void>> warmed, again;
  bool served = false;
  run_against(io, server, [&]() -> net::awaitable<void> {
    warmed = co_await t.warm();
    again = co_await t.warm();  // the pooled connection is young: nothing to do
    served = (co_await t.request(get("/r"))).ok();
  });
  REQUIRE(warmed.has_value());
  CHECK(warmed->ok());
  CHECK(again->ok());
  CHECK(served);
  CHECK(server.accepted() == 1);
  CHECK(server.requests().size() == 1);  // only the request: the warm-up sent nothing
  CHECK(t.stats().connections_warmed == 1);
  CHECK(t.stats().connections_opened == 1);
  CHECK(t.stats().connections_reused == 1);
  CHECK(t.idle_connections() == 1);
}

TEST_CASE("transport: warm() replaces a pooled connection too old to be reused", "[transport]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) { return FakeReply::json(200, "{}"); });
  TransportOptions opts;
  opts.max_idle_time = 0s;  // every pooled connection has expired by the time it is looked at
  Transport t(io.get_executor(), server.test_config(), opts);
  std::optional<Result<void>> first, second;
  run_against(io, server, [&]() -> net::awaitable<void> {
    first = co_await t.warm();
    second = co_await t.warm();
  });
  REQUIRE(first.has_value());
  CHECK(first->ok());
  CHECK(second->ok());
  CHECK(server.accepted() == 2);
  CHECK(server.requests().empty());
  CHECK(t.stats().connections_warmed == 2);
  CHECK(t.idle_connections() == 1);  // the expired one was dropped, not kept beside it
}

TEST_CASE("transport: warm() reports a failed connect as an error and pools nothing", "[transport]") {
  net::io_context io;
  std::optional<Result<void>> warmed;
  {
    FakeApiServer server(io, [](const FakeRequest&) { return FakeReply::json(200, "{}"); });
    auto config = server.test_config();
    config.tls.ca_pem.clear();
    config.tls.ca_file = "/nonexistent/ca.crt";  // TLS setup fails before connecting
    Transport t(io.get_executor(), config);
    run_against(io, server, [&]() -> net::awaitable<void> { warmed = co_await t.warm(); });
    CHECK(t.idle_connections() == 0);
    CHECK(t.stats().connections_warmed == 0);
  }
  REQUIRE(warmed.has_value());
  CHECK_FALSE(warmed->ok());
}
