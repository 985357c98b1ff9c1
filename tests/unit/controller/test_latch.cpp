// The controller's stop latch: a set() is never lost, whether it comes before the wait,
// during it, or from a handler that runs while the waiter is suspended.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <kle/controller/latch.hpp>

namespace asio = boost::asio;
using kle::controller::Latch;

namespace {

// Runs wait() to completion (or until the io_context runs out of work); true when it completed.
bool waited(asio::io_context& io, Latch& latch) {
  bool done = false;
  asio::co_spawn(io, latch.wait(), [&](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  io.run_for(std::chrono::seconds(5));
  return done;
}

}  // namespace

TEST_CASE("latch: set before the wait is not lost") {
  asio::io_context io;
  Latch latch(io.get_executor());
  latch.set();
  latch.set();  // idempotent
  CHECK(latch.is_set());
  CHECK(waited(io, latch));
}

TEST_CASE("latch: set while the wait is pending wakes it") {
  asio::io_context io;
  Latch latch(io.get_executor());
  // Posted twice: the first lets the waiter suspend, the second sets the latch.
  asio::post(io, [&] { asio::post(io, [&] { latch.set(); }); });
  CHECK_FALSE(latch.is_set());
  CHECK(waited(io, latch));
}

TEST_CASE("latch: an unset latch keeps its waiter waiting") {
  asio::io_context io;
  Latch latch(io.get_executor());
  bool done = false;
  asio::co_spawn(io, latch.wait(), [&](const std::exception_ptr&) { done = true; });
  io.poll();  // no time passes: everything ready has run
  CHECK_FALSE(done);
  latch.set();
  io.poll();
  CHECK(done);
}
