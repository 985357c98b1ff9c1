#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "controller/workload.hpp"

namespace asio = boost::asio;
using kle::controller::Workload;
using namespace std::chrono_literals;

TEST_CASE("a workload that exits by itself reports its status") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exit 3"}, 1s, kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) {
    reported = status;
    io.stop();
  });
  REQUIRE(w.start());
  CHECK(w.running());
  io.run_for(10s);
  CHECK(reported == 3);
  CHECK_FALSE(w.running());
}

TEST_CASE("stop() terminates the workload with SIGTERM and is not an unexpected exit") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exec sleep 60"}, 5s, kle::log::null_logger());
  bool unexpected = false;
  w.on_unexpected_exit([&](int) { unexpected = true; });
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await w.stop();
    stopped = true;
    io.stop();
  }, asio::detached);
  io.run_for(10s);
  CHECK(stopped);
  CHECK_FALSE(unexpected);
  CHECK(w.last_status() == 128 + 15);
}

TEST_CASE("a workload that ignores SIGTERM is killed after the grace period") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"}, 200ms,
             kle::log::null_logger());
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::steady_timer(io, 100ms).async_wait(asio::use_awaitable);  // let the trap install
    co_await w.stop();
    stopped = true;
    io.stop();
  }, asio::detached);
  io.run_for(10s);
  CHECK(stopped);
  CHECK(w.last_status() == 128 + 9);
}

TEST_CASE("a command that cannot be spawned is reported as status 127") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/nonexistent/definitely-not-here"}, 1s, kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) { reported = status; });
  CHECK_FALSE(w.start());
  CHECK_FALSE(w.running());
  CHECK(reported == 127);
}

// Leadership lost, then regained while CMD is still inside its grace period: the old child
// finishes stopping (its own status is recorded), then a new one starts; never two at once.
TEST_CASE("start() during a stop restarts the workload once the old one has exited") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "trap 'sleep 0.3; exit 7' TERM; while :; do sleep 0.05; done"},
             5s, kle::log::null_logger());
  bool unexpected = false;
  w.on_unexpected_exit([&](int) { unexpected = true; });
  REQUIRE(w.start());
  bool restarted_after_stop = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::steady_timer(io, 100ms).async_wait(asio::use_awaitable);  // let the trap install
    asio::co_spawn(io, w.stop(), asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    REQUIRE(w.running());  // still inside the TERM trap
    CHECK_FALSE(w.last_status().has_value());
    CHECK(w.start());      // regained: must not be lost
    while (!w.last_status()) co_await asio::steady_timer(io, 20ms).async_wait(asio::use_awaitable);
    restarted_after_stop = w.running();
    co_await w.stop();  // the new child stops too (its trap exits 7 as well)
    io.stop();
  }, asio::detached);
  io.run_for(20s);
  CHECK(restarted_after_stop);
  CHECK_FALSE(w.running());
  CHECK(w.last_status() == 7);
  CHECK_FALSE(unexpected);
}

TEST_CASE("a second stop() waits for the same exit and does not cut the grace period short") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "trap 'sleep 0.3; exit 5' TERM; while :; do sleep 0.05; done"},
             10s, kle::log::null_logger());
  REQUIRE(w.start());
  int done = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::steady_timer(io, 100ms).async_wait(asio::use_awaitable);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await w.stop();
      ++done;
    }, asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    co_await w.stop();  // e.g. shutdown while the loss-stop is in its grace period
    ++done;
    while (done < 2) co_await asio::steady_timer(io, 10ms).async_wait(asio::use_awaitable);
    io.stop();
  }, asio::detached);
  io.run_for(20s);
  CHECK(done == 2);
  CHECK(w.last_status() == 5);  // exited by itself in its grace period: not SIGKILLed (137)
}
