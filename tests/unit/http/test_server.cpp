// The server over real sockets on 127.0.0.1:0: routing, methods, keep-alive, timeouts,
// the connection cap and its eviction order, the header cap, and stop() with connections
// still open. The attack itself (1,000 idle and slowloris connections) is in
// test_server_attack.cpp.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include <kle/http/server.hpp>

using namespace kle::http;
using namespace kle::http::testing;
using namespace std::chrono_literals;

namespace {

ServerOptions local_options() {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  return o;
}

// A server with /hello (text, echoes the query) and /json, started or the test fails.
std::unique_ptr<Server> start_server(asio::io_context& io, ServerOptions options = local_options()) {
  auto server = std::make_unique<Server>(io, std::move(options));
  server->handle("/hello", [](const Request& r) { return text_response(200, "hello " + r.query + "\n"); });
  server->handle("/json", [](const Request&) { return json_response(200, {{"leader", true}}); });
  server->handle("/boom", [](const Request&) -> Response { throw std::runtime_error("kaboom"); });
  auto started = server->start();
  if (!started.ok()) FAIL(started.error().message);
  REQUIRE(server->port() != 0);
  return server;
}

}  // namespace

TEST_CASE("routes answer GET, unknown paths 404, other methods 405") {
  asio::io_context io;
  auto server = start_server(io);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));

    auto hello = co_await c.get("/hello?x=1");
    CHECK(hello.result_int() == 200);
    CHECK(hello.body() == "hello x=1\n");
    CHECK(hello[bhttp::field::content_type] == "text/plain; charset=utf-8");

    auto json = co_await c.get("/json");
    CHECK(json.result_int() == 200);
    CHECK(json[bhttp::field::content_type] == "application/json");
    CHECK(json.body() == "{\"leader\":true}\n");

    auto missing = co_await c.get("/nope");
    CHECK(missing.result_int() == 404);

    auto post = co_await c.request(bhttp::verb::post, "/hello");
    CHECK(post.result_int() == 405);
    CHECK(post[bhttp::field::allow] == "GET, HEAD");

    auto boom = co_await c.get("/boom");
    CHECK(boom.result_int() == 500);
    CHECK(boom.body().find("kaboom") != std::string::npos);
    server->stop();
  });
}

TEST_CASE("HEAD returns GET's headers and no body") {
  asio::io_context io;
  auto server = start_server(io);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    auto head = co_await c.request(bhttp::verb::head, "/hello?abc");
    CHECK(head.result_int() == 200);
    CHECK(head[bhttp::field::content_length] == std::to_string(std::string("hello abc\n").size()));
    CHECK(head.body().empty());
    // The connection is still in sync: had a body been sent, this would read it as a reply.
    auto get = co_await c.get("/hello?abc");
    CHECK(get.body() == "hello abc\n");
    server->stop();
  });
}

TEST_CASE("keep-alive serves several requests on one connection") {
  asio::io_context io;
  auto server = start_server(io);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    auto first = co_await c.get("/hello?1");
    auto second = co_await c.get("/hello?2");
    CHECK(first.body() == "hello 1\n");
    CHECK(second.body() == "hello 2\n");
    CHECK(second.keep_alive());
    CHECK(server->connections() == 1);

    // HTTP/1.0 without keep-alive: one answer, then the server closes.
    Client old(io.get_executor());
    REQUIRE_FALSE(co_await old.connect(server->port()));
    auto reply = co_await old.request(bhttp::verb::get, "/hello", 10);
    CHECK(reply.result_int() == 200);
    CHECK_FALSE(reply.keep_alive());
    {
      const auto closed = co_await old.wait_closed();
      INFO("old: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    server->stop();
  });
}

TEST_CASE("a client that sends half a request and stalls is disconnected by the request timeout") {
  asio::io_context io;
  auto options = local_options();
  options.request_timeout = 100ms;  // far below the client's 5s deadline
  options.idle_timeout = 100ms;
  auto server = start_server(io, options);
  run(io, [&]() -> asio::awaitable<void> {
    Client slow(io.get_executor());
    REQUIRE_FALSE(co_await slow.connect(server->port()));
    co_await slow.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\n");  // no blank line: stalls
    const auto ec = co_await slow.wait_closed();
    INFO(ec.message());
    CHECK(closed_by_peer(ec));  // not beast::error::timeout: the server hung up first
    CHECK(co_await eventually([&] { return server->connections() == 0; }));

    // An idle keep-alive connection is reclaimed the same way.
    Client idle(io.get_executor());
    REQUIRE_FALSE(co_await idle.connect(server->port()));
    CHECK((co_await idle.get("/hello")).result_int() == 200);
    {
      const auto closed = co_await idle.wait_closed();
      INFO("idle: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    server->stop();
  });
}

TEST_CASE("headers beyond the cap get 431 and a closed connection") {
  asio::io_context io;
  auto options = local_options();
  options.max_header_bytes = 1024;
  auto server = start_server(io, options);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    co_await c.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2048, 'a') + "\r\n\r\n");
    auto reply = co_await c.read_reply();
    CHECK(reply.result_int() == 431);
    CHECK_FALSE(reply.keep_alive());
    {
      const auto closed = co_await c.wait_closed();
      INFO("c: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    server->stop();
  });
}

TEST_CASE("at the cap a new connection is admitted by closing the one waiting longest") {
  asio::io_context io;
  auto options = local_options();
  options.max_connections = 2;
  auto server = start_server(io, options);
  REQUIRE(server->connection_limit() == 2);
  run(io, [&]() -> asio::awaitable<void> {
    Client a(io.get_executor());
    Client b(io.get_executor());
    REQUIRE_FALSE(co_await a.connect(server->port()));
    REQUIRE_FALSE(co_await b.connect(server->port()));
    // A reply proves each was accepted and counted before the next arrives; a, answered
    // first, has waited longest for its next request.
    CHECK((co_await a.get("/hello")).result_int() == 200);
    CHECK((co_await b.get("/hello")).result_int() == 200);
    CHECK(server->connections() == 2);

    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    CHECK((co_await c.get("/hello")).result_int() == 200);  // the newcomer is served...
    {
      const auto closed = co_await a.wait_closed();  // ...and the oldest waiter made room
      INFO("a: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    CHECK(server->connections() == 2);
    CHECK(server->evictions() == 1);
    CHECK((co_await b.get("/hello")).result_int() == 200);  // b was spared, and is now newest

    // A request trickling in (slowloris) does not renew its place: it goes before the idle c.
    Client slow(io.get_executor());
    REQUIRE_FALSE(co_await slow.connect(server->port()));  // evicts c, the oldest waiter now
    {
      const auto closed = co_await c.wait_closed();
      INFO("c: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    co_await slow.write_raw("GET /hello HTTP/1.1\r\n");
    CHECK((co_await b.get("/hello")).result_int() == 200);  // b waits anew, behind slow
    co_await slow.write_raw("Host: x\r\n");
    Client d(io.get_executor());
    REQUIRE_FALSE(co_await d.connect(server->port()));
    CHECK((co_await d.get("/hello")).result_int() == 200);
    {
      const auto closed = co_await slow.wait_closed();
      INFO("slow: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    CHECK(server->evictions() == 3);
    CHECK(server->connections() == 2);
    server->stop();
  });
}

TEST_CASE("a request trickling in a byte at a time is cut at the request timeout") {
  asio::io_context io;
  auto options = local_options();
  options.request_timeout = 300ms;
  auto server = start_server(io, options);
  run(io, [&]() -> asio::awaitable<void> {
    Client slow(io.get_executor());
    REQUIRE_FALSE(co_await slow.connect(server->port()));
    co_await slow.write_raw("GET /hello HTTP/1.1\r\nX-Slow: ");
    // Keeps sending well past the timeout; each byte is progress, but not a whole request.
    const auto start = std::chrono::steady_clock::now();
    asio::steady_timer tick(io.get_executor());
    error_code ec;
    while (!ec && std::chrono::steady_clock::now() - start < kClientDeadline) {
      tick.expires_after(50ms);
      co_await tick.async_wait(asio::use_awaitable);
      try {
        co_await slow.write_raw("a");
      } catch (const boost::system::system_error& e) {
        ec = e.code();  // EPIPE or reset: the server hung up
      }
    }
    INFO(ec.message());
    CHECK(ec);
    CHECK(co_await eventually([&] { return server->connections() == 0; }));
    server->stop();
  });
}

TEST_CASE("a kept-alive connection idles for idle_timeout, then has request_timeout for a request") {
  asio::io_context io;
  auto options = local_options();
  options.request_timeout = 300ms;
  options.idle_timeout = 1500ms;
  auto server = start_server(io, options);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    CHECK((co_await c.get("/hello")).result_int() == 200);
    // Idle past the request timeout: still open, because kept-alive waits get idle_timeout.
    asio::steady_timer wait(io.get_executor(), 600ms);
    co_await wait.async_wait(asio::use_awaitable);
    CHECK(server->connections() == 1);
    CHECK((co_await c.get("/hello?again")).body() == "hello again\n");
    // The first byte of the next request starts the request timeout.
    co_await c.write_raw("G");
    const auto started = std::chrono::steady_clock::now();
    const auto closed = co_await c.wait_closed();
    INFO(closed.message());
    CHECK(closed_by_peer(closed));
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);  // not the idle timeout
    server->stop();
  });
}

TEST_CASE("the connection cap is at most half the descriptor limit") {
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = 100;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  asio::io_context io;
  auto options = local_options();
  options.max_connections = 1000;
  auto server = start_server(io, options);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(server->connection_limit() == 50);
  CHECK(ServerOptions{}.max_connections == 256);
  server->stop();
  io.run_for(std::chrono::seconds(5));
  CHECK(io.stopped());
}

TEST_CASE("stop() closes the acceptor and every live connection") {
  asio::io_context io;
  auto server = start_server(io);
  run(io, [&]() -> asio::awaitable<void> {
    const auto port = server->port();
    Client idle(io.get_executor());
    Client partial(io.get_executor());
    REQUIRE_FALSE(co_await idle.connect(port));
    REQUIRE_FALSE(co_await partial.connect(port));
    CHECK((co_await idle.get("/hello")).result_int() == 200);
    co_await partial.write_raw("GET /hel");
    CHECK(co_await eventually([&] { return server->connections() == 2; }));

    server->stop();
    {
      const auto closed = co_await idle.wait_closed();
      INFO("idle: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    {
      const auto closed = co_await partial.wait_closed();
      INFO("partial: " << closed.message());
      CHECK(closed_by_peer(closed));
    }
    CHECK(co_await eventually([&] { return server->connections() == 0; }));

    Client late(io.get_executor());
    const auto refused = co_await late.connect(port);
    INFO(refused.message());
    CHECK(refused == asio::error::connection_refused);
    server->stop();  // idempotent
  });
}

TEST_CASE("destroying the server with live connections stops it safely") {
  asio::io_context io;
  auto server = start_server(io);
  run(io, [&]() -> asio::awaitable<void> {
    Client c(io.get_executor());
    REQUIRE_FALSE(co_await c.connect(server->port()));
    CHECK((co_await c.get("/hello")).result_int() == 200);
    server.reset();  // the session is still parked in a read; it must not touch *server
    const auto closed = co_await c.wait_closed();
    INFO(closed.message());
    CHECK(closed_by_peer(closed));
  });
}

TEST_CASE("start() reports a bad address or a taken port") {
  asio::io_context io;
  ServerOptions bad;
  bad.address = "localhost:http";
  Server unparsable(io, bad);
  auto r = unparsable.start();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(kle::api::ErrorKind::config));
  CHECK(r.error().message.find("localhost:http") != std::string::npos);

  auto first = start_server(io);
  ServerOptions same;
  same.address = "127.0.0.1:" + std::to_string(first->port());
  Server second(io, same);
  auto taken = second.start();
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().is(kle::api::ErrorKind::config));
  CHECK(taken.error().message.find("bind") != std::string::npos);

  auto again = first->start();  // a second accept loop on one acceptor would be a bug
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(kle::api::ErrorKind::config));
  first->stop();
  io.run_for(std::chrono::seconds(5));
  CHECK(io.stopped());
}
