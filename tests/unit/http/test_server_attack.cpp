// The liveness probe under a connection-exhaustion attack (issue 15, item 5): 1,000 idle
// connections and 100 slowloris ones (a header byte every 100 ms) are held open, and
// reopened when the server drops them, while /healthz is probed. With the old fixed cap of 32
// and a 10 s read timeout every probe was refused, and the kubelet restarted the leader.
//
// Real sockets and real time (the server's timers are real); every bound here is generous,
// because this runs on a loaded 2-core machine: the per-request bound is the harness's 5 s.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/detached.hpp>

#include "harness.hpp"
#include <kle/http/server.hpp>

using namespace kle::http;
using namespace kle::http::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kIdle = 1000;
constexpr std::size_t kSlowloris = 100;
constexpr auto kTrickle = 100ms;     // one header byte this often
constexpr auto kReconnect = 1s;      // an attacker slot reopens this long after a drop
constexpr auto kProbeFor = 5s;       // at least: longer than the default request timeout
constexpr std::size_t kProbes = 5;   // at least, however slowly a loaded machine answers
constexpr auto kProbeEvery = 250ms;  // the kubelet probes every 10 s; this is harsher

// Client and server ends of every attack socket live in this process. The test cannot
// run below this many descriptors, and says so instead of skipping.
void raise_fd_limit(rlim_t want) {
  rlimit rl{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur >= want) return;
  INFO("RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below the " << want << " this test needs");
  REQUIRE((rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want));
  rl.rlim_cur = want;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

struct Attack {
  bool over = false;
  std::size_t connects = 0;     // successful attacker connects, first ones and reopened
  std::size_t established = 0;  // attacker slots connected at least once
  std::vector<std::shared_ptr<tcp::socket>> sockets;  // to close them all at the end
};

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  error_code ignored;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

// Connects, then holds the connection: idle (waits for the server to close it) or slowloris
// (a partial request, then one more header byte every kTrickle). Reconnects after a drop.
asio::awaitable<void> attacker(Attack& attack, std::uint16_t port, bool slowloris) {
  auto ex = co_await asio::this_coro::executor;
  bool counted = false;
  while (!attack.over) {
    auto socket = std::make_shared<tcp::socket>(ex);
    attack.sockets.push_back(socket);
    error_code ec;
    co_await socket->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      ++attack.connects;
      if (!counted) ++attack.established;
      counted = true;
    }
    if (!ec && !slowloris) {
      char byte = 0;  // blocks until the server drops us (or the test closes the socket)
      co_await socket->async_read_some(asio::buffer(&byte, 1), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec && slowloris) {
      const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      co_await asio::async_write(*socket, asio::buffer(start), asio::redirect_error(asio::use_awaitable, ec));
      while (!ec && !attack.over) {
        co_await pause(kTrickle);
        const char byte = 'a';
        co_await asio::async_write(*socket, asio::buffer(&byte, 1), asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    error_code ignored;
    socket->close(ignored);
    if (!attack.over) co_await pause(kReconnect);
  }
}

}  // namespace

TEST_CASE("/healthz answers while 1,000 idle and 100 slowloris connections are held") {
  raise_fd_limit(4096);
  asio::io_context io;
  ServerOptions options;  // the shipped defaults: this is what the kubelet talks to
  options.address = "127.0.0.1:0";
  Server server(io, options);
  server.handle("/healthz", [](const Request&) { return text_response(200, "ok\n"); });
  auto started = server.start();
  if (!started.ok()) FAIL(started.error().message);
  const auto port = server.port();

  Attack attack;
  std::size_t probes = 0;
  auto slowest = std::chrono::steady_clock::duration::zero();
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = io.get_executor();
    for (std::size_t i = 0; i < kIdle + kSlowloris; ++i) {
      asio::co_spawn(ex, attacker(attack, port, i >= kIdle), asio::detached);
    }
    REQUIRE(co_await eventually([&] { return attack.established == kIdle + kSlowloris; }));

    const auto until = std::chrono::steady_clock::now() + kProbeFor;
    while (probes < kProbes || std::chrono::steady_clock::now() < until) {
      const auto sent = std::chrono::steady_clock::now();
      Client probe(ex);
      const auto connected = co_await probe.connect(port);
      INFO("probe " << probes << " connect: " << connected.message());
      REQUIRE_FALSE(connected);
      // Throws (and fails the test) when the server drops the probe or leaves it unanswered.
      const auto reply = co_await probe.get("/healthz");
      CHECK(reply.result_int() == 200);
      slowest = std::max(slowest, std::chrono::steady_clock::now() - sent);
      ++probes;
      // Memory stays bounded: the server never holds more than its cap, whatever is attacking.
      CHECK(server.connections() <= ServerOptions{}.max_connections);
      co_await pause(kProbeEvery);
    }

    attack.over = true;
    for (auto& s : attack.sockets) {
      error_code ignored;
      s->close(ignored);
    }
    server.stop();
  }, 90s);  // each probe may take the harness's 5 s: a generous bound for the whole attack
  const auto slowest_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count();
  WARN("probes: " << probes << ", slowest " << slowest_ms << " ms; attacker connects: " << attack.connects);
  CHECK(attack.connects > kIdle + kSlowloris);  // the attack kept coming back
}
