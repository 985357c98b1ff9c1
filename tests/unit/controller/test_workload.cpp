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

TEST_CASE("a command that cannot be spawned is reported, not fatal") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/nonexistent/definitely-not-here"}, 1s, kle::log::null_logger());
  CHECK_FALSE(w.start());
  CHECK_FALSE(w.running());
}
