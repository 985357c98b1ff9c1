// The connection cap (TransportOptions::max_connections, issue 14): concurrent requests share
// at most that many connections and queue for them; a queued request still ends at its own
// deadline; close() fails the queue as cancelled; a failed connection passes its slot on.
#include <catch2/catch.hpp>

#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/transport.hpp>

using namespace std::chrono_literals;
using namespace kle::kube;
using namespace kle::testing;
using kle::api::ErrorKind;
using kle::api::Result;
namespace net = boost::asio;

namespace {

HttpRequest get(std::string target) { return {boost::beast::http::verb::get, std::move(target), {}, {}}; }

// Starts `n` requests at once on `t` and waits (on the io_context, no wall-clock assertion)
// until every one has its result.
net::awaitable<void> concurrent(Transport& t, int n, std::vector<std::optional<Result<HttpResponse>>>& out) {
  out.assign(static_cast<std::size_t>(n), std::nullopt);
  auto ex = co_await net::this_coro::executor;
  for (int i = 0; i < n; ++i) {
    net::co_spawn(ex, [&t, &out, i]() -> net::awaitable<void> {
      out[static_cast<std::size_t>(i)] = co_await t.request(get("/r/" + std::to_string(i)));
    }, net::detached);
  }
  net::steady_timer tick(ex);
  auto all_done = [&] {
    for (const auto& o : out)
      if (!o) return false;
    return true;
  };
  while (!all_done()) {
    tick.expires_after(5ms);
    co_await tick.async_wait(net::use_awaitable);
  }
}

}  // namespace

TEST_CASE("transport: concurrent requests share at most max_connections connections", "[transport]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) { return FakeReply::json(200, "{}"); });
  TransportOptions opts;
  opts.max_connections = 2;
  Transport t(io.get_executor(), server.test_config(), opts);
  std::vector<std::optional<Result<HttpResponse>>> out;
  run_against(io, server, [&]() -> net::awaitable<void> { co_await concurrent(t, 10, out); });
  for (const auto& o : out) {
    REQUIRE(o.has_value());
    CHECK(o->ok());
  }
  CHECK(server.requests().size() == 10);
  CHECK(server.accepted() == 2);  // ten requests, two TLS handshakes
  CHECK(t.stats().connections_opened == 2);
  CHECK(t.stats().requests_queued == 8);
  CHECK(t.stats().max_queue_depth == 8);
  CHECK(t.open_connections() == 2);
  CHECK(t.idle_connections() == 2);
}

TEST_CASE("transport: a request queued for a busy connection still ends at its own deadline", "[transport]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) {
    // Blocks the only thread past both deadlines, so that when it returns the queued
    // request's wait has expired before the busy connection's read can fail and free it.
    std::this_thread::sleep_for(400ms);
    FakeReply r;
    r.hang = true;
    return r;
  });
  TransportOptions opts;
  opts.max_connections = 1;
  opts.request_timeout = 300ms;
  Transport t(io.get_executor(), server.test_config(), opts);
  std::vector<std::optional<Result<HttpResponse>>> out;
  run_against(io, server, [&]() -> net::awaitable<void> { co_await concurrent(t, 2, out); });
  REQUIRE(out[0].has_value());
  REQUIRE(out[1].has_value());
  CHECK(out[0]->error().kind == ErrorKind::timeout);
  REQUIRE_FALSE(out[1]->ok());
  CHECK(out[1]->error().kind == ErrorKind::timeout);
  CHECK_THAT(out[1]->error().message, Catch::Contains("waiting for a connection") &&
                                           Catch::Contains("all 1 connections busy"));
  CHECK(server.accepted() == 1);  // the queued request never opened a second one
  CHECK(t.open_connections() == 0);
}

TEST_CASE("transport: a queued request the caller cancels leaves the queue without taking a slot",
          "[transport]") {
  net::io_context io;
  int n = 0;
  net::cancellation_signal cancel_second;
  FakeApiServer server(io, [&](const FakeRequest&) {
    if (n++ == 0) cancel_second.emit(net::cancellation_type::terminal);  // it is queued by now
    return FakeReply::json(200, "{}");
  });
  TransportOptions opts;
  opts.max_connections = 1;
  Transport t(io.get_executor(), server.test_config(), opts);
  std::optional<Result<HttpResponse>> first, second, third;
  run_against(io, server, [&]() -> net::awaitable<void> {
    auto ex = co_await net::this_coro::executor;
    net::co_spawn(ex, [&]() -> net::awaitable<void> { first = co_await t.request(get("/1")); }, net::detached);
    net::co_spawn(ex, [&]() -> net::awaitable<void> { second = co_await t.request(get("/2")); },
                  net::bind_cancellation_slot(cancel_second.slot(), net::detached));
    net::steady_timer tick(ex);
    while (!first || !second) {
      tick.expires_after(5ms);
      co_await tick.async_wait(net::use_awaitable);
    }
    third = co_await t.request(get("/3"));  // the slot came back: the pooled connection serves it
  });
  REQUIRE(first.has_value());
  CHECK(first->ok());
  REQUIRE(second.has_value());
  REQUIRE_FALSE(second->ok());
  CHECK(second->error().kind == ErrorKind::cancelled);
  REQUIRE(third.has_value());
  CHECK(third->ok());
  CHECK(server.requests().size() == 2);  // "/2" was never sent
  CHECK(server.accepted() == 1);
  CHECK(t.open_connections() == 1);
}

TEST_CASE("transport: close() fails the requests queued for a connection as cancelled", "[transport]") {
  net::io_context io;
  Transport* tp = nullptr;
  FakeApiServer server(io, [&](const FakeRequest&) {
    tp->close();  // the second request is queued behind this one by now
    FakeReply r;
    r.hang = true;
    return r;
  });
  TransportOptions opts;
  opts.max_connections = 1;
  Transport t(io.get_executor(), server.test_config(), opts);
  tp = &t;
  std::vector<std::optional<Result<HttpResponse>>> out;
  run_against(io, server, [&]() -> net::awaitable<void> { co_await concurrent(t, 2, out); });
  CHECK(out[0]->error().kind == ErrorKind::cancelled);
  CHECK(out[1]->error().kind == ErrorKind::cancelled);
  CHECK_THAT(out[1]->error().message, Catch::Contains("waiting for a connection"));
  CHECK(server.requests().size() == 1);
  CHECK(t.open_connections() == 0);
}

TEST_CASE("transport: a connection that fails passes its slot to the next queued request", "[transport]") {
  net::io_context io;
  int n = 0;
  FakeApiServer server(io, [&](const FakeRequest&) {
    if (n++ == 0) {
      FakeReply r;
      r.drop = true;  // the first request's fresh connection dies before any response
      return r;
    }
    return FakeReply::json(200, "{}");
  });
  TransportOptions opts;
  opts.max_connections = 1;
  Transport t(io.get_executor(), server.test_config(), opts);
  std::vector<std::optional<Result<HttpResponse>>> out;
  run_against(io, server, [&]() -> net::awaitable<void> { co_await concurrent(t, 2, out); });
  CHECK(out[0]->error().kind == ErrorKind::transport);
  CHECK(out[1]->ok());
  CHECK(server.accepted() == 2);
  CHECK(t.stats().requests_queued == 1);
  CHECK(t.open_connections() == 1);
}

TEST_CASE("transport: pooled connections past max_idle_time are closed while a stream carries data",
          "[transport]") {
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest& r) {
    if (r.target != "/watch") return FakeReply::json(200, "{}");
    FakeReply w;  // a stream of two chunks, then its end
    w.raw = {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
             http_chunk("{\"a\":1}\n"), http_chunk("{\"b\":2}\n"), std::string(kLastChunk)};
    return w;
  });
  TransportOptions opts;
  opts.max_idle_time = 1s;
  Transport t(io.get_executor(), server.test_config(), opts);
  std::size_t pooled_before = 0;
  std::optional<Result<HttpResponse>> streamed;
  run_against(io, server, [&]() -> net::awaitable<void> {
    (void)co_await t.request(get("/r"));
    pooled_before = t.idle_connections();
    net::steady_timer pause(co_await net::this_coro::executor);
    pause.expires_after(1200ms);  // the pooled connection is now past its idle time
    co_await pause.async_wait(net::use_awaitable);
    streamed = co_await t.stream(get("/watch"), 5s, [](std::string_view) { return Result<void>{}; });
  });
  CHECK(pooled_before == 1);
  REQUIRE(streamed.has_value());
  CHECK(streamed->ok());
  CHECK(t.idle_connections() == 0);  // closed by the stream's reads, not left for the next request
  CHECK(t.open_connections() == 0);
}
