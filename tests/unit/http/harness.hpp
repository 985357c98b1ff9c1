#pragma once
// Test plumbing for the HTTP server: a tiny Beast client and a runner that drives one test
// coroutine on the same io_context as the server (no threads, no sleeps).
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace kle::http::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Reply = bhttp::response<bhttp::string_body>;

// A client deadline far above any server timeout used in the tests: if it fires, the
// server failed to act, and the test sees beast::error::timeout instead of EOF.
inline constexpr std::chrono::seconds kClientDeadline{5};

class Client {
 public:
  explicit Client(asio::any_io_executor ex) : stream_(std::move(ex)) {}

  asio::awaitable<error_code> connect(std::uint16_t port) {
    error_code ec;
    stream_.expires_after(kClientDeadline);
    co_await stream_.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                                   asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
  }

  asio::awaitable<Reply> request(bhttp::verb verb, std::string target, unsigned version = 11) {
    bhttp::request<bhttp::string_body> req{verb, target, version};
    req.set(bhttp::field::host, "127.0.0.1");
    stream_.expires_after(kClientDeadline);
    co_await bhttp::async_write(stream_, req, asio::use_awaitable);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(verb == bhttp::verb::head);  // a HEAD reply has Content-Length but no body
    co_await bhttp::async_read(stream_, buffer_, parser, asio::use_awaitable);
    co_return parser.release();
  }

  asio::awaitable<Reply> get(std::string target) { return request(bhttp::verb::get, std::move(target)); }

  asio::awaitable<void> write_raw(std::string bytes) {
    stream_.expires_after(kClientDeadline);
    co_await asio::async_write(stream_, asio::buffer(bytes), asio::use_awaitable);
  }

  asio::awaitable<Reply> read_reply() {
    stream_.expires_after(kClientDeadline);
    Reply reply;
    co_await bhttp::async_read(stream_, buffer_, reply, asio::use_awaitable);
    co_return reply;
  }

  // Reads until the server closes: returns eof (or connection_reset) when it did,
  // beast::error::timeout when it did not within kClientDeadline.
  asio::awaitable<error_code> wait_closed() {
    error_code ec;
    char byte = 0;
    stream_.expires_after(kClientDeadline);
    while (!ec) {
      co_await stream_.async_read_some(asio::buffer(&byte, 1), asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return ec;
  }

  void close() { stream_.close(); }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

inline bool closed_by_peer(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// Yields to the event loop until pred() holds; false if it never does within the deadline.
inline asio::awaitable<bool> eventually(std::function<bool()> pred) {
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + kClientDeadline;
  asio::steady_timer tick(ex);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    tick.expires_after(std::chrono::milliseconds(1));
    co_await tick.async_wait(asio::use_awaitable);
  }
  co_return true;
}

// Runs body() on io until it finishes, rethrowing its failures. The test body must stop the
// server; then io runs out of work, which checks that nothing is left behind.
inline void run(asio::io_context& io, std::function<asio::awaitable<void>()> body,
                std::chrono::seconds limit = std::chrono::seconds(20)) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    if (e) io.stop();  // a failed REQUIRE left the server running
  });
  io.run_for(limit);
  REQUIRE(done);
  if (failure) std::rethrow_exception(failure);
  CHECK(io.stopped());  // all sessions and the accept loop ended after stop()
}

}  // namespace kle::http::testing
