#pragma once
// An in-process HTTPS server on 127.0.0.1 (ephemeral port) for the kube transport and client
// tests. It runs as coroutines on the test's own io_context, so a test is one thread and
// deterministic. Each request is answered by a scripted handler: a normal response, raw bytes
// (chunked streams, torn or malformed responses), a close after replying, or a hang.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <kle/kube/config.hpp>

namespace kle::testing {

namespace fake_net = boost::asio;

struct FakeRequest {
  std::string method;
  std::string target;
  std::string body;
  std::string authorization;
  std::string content_type;
  std::size_t connection = 0;  // 1-based index of the accepted connection it came on
  std::vector<std::pair<std::string, std::string>> headers;  // every field, in order

  // The value of the first field called `name` (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (boost::beast::iequals(k, name)) return v;
    return std::nullopt;
  }
};

struct FakeReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> raw;  // when non-empty, written verbatim piece by piece instead
  bool drop = false;             // write nothing at all, just drop the connection
  bool close_after = false;      // drop the TCP connection after replying (no TLS close_notify)
  // With close_after: still advertise keep-alive, like a server that times the idle
  // connection out right after answering (the client pools a connection that is dead).
  bool claim_keep_alive = false;
  bool hang = false;             // after writing (raw or nothing), wait until the client goes away

  static FakeReply json(int status, std::string body) {
    FakeReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

using FakeHandler = std::function<FakeReply(const FakeRequest&)>;

// tests/fakes/testdata, found through KLE_TESTS_DIR so tests need no working-directory setup.
inline std::filesystem::path testdata_dir() {
  return std::filesystem::path(KLE_TESTS_DIR) / "fakes" / "testdata";
}

// Throws (failing the test loudly) when the committed file is missing.
inline std::string read_testdata(const std::string& name) {
  const auto path = testdata_dir() / name;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw std::runtime_error("missing test data file " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

// One HTTP/1.1 chunk, for scripting chunked bodies by hand.
inline std::string http_chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

class FakeApiServer {
 public:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // `cert` names a key pair in testdata: "test" (trusted by test_config()), "other" (an
  // unrelated CA) or "wrongname" (trusted CA, wrong SAN).
  FakeApiServer(fake_net::io_context& io, FakeHandler handler, const std::string& cert = "test")
      : io_(io), handler_(std::move(handler)), tls_(fake_net::ssl::context::tls_server), acceptor_(io) {
    const std::string crt = read_testdata(cert + "-server.crt");
    const std::string key = read_testdata(cert + "-server.key");
    tls_.use_certificate_chain(fake_net::buffer(crt));
    tls_.use_private_key(fake_net::buffer(key), fake_net::ssl::context::pem);
    const fake_net::ip::tcp::endpoint ep(fake_net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    fake_net::co_spawn(io_, accept_loop(), fake_net::detached);
  }

  [[nodiscard]] unsigned short port() const { return acceptor_.local_endpoint().port(); }
  [[nodiscard]] std::size_t accepted() const { return accepted_; }
  [[nodiscard]] const std::vector<FakeRequest>& requests() const { return requests_; }

  // A cluster config pointing here and trusting the test CA.
  [[nodiscard]] kube::ClusterConfig test_config() const {
    kube::ClusterConfig c;
    c.host = "127.0.0.1";
    c.port = std::to_string(port());
    c.tls.ca_pem = read_testdata("test-ca.crt");
    c.token = "test-token";
    c.source = "fake-apiserver";
    return c;
  }

  // Stops accepting and drops every connection, so io_context::run() can return.
  void stop() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& weak : streams_)
      if (auto s = weak.lock()) boost::beast::get_lowest_layer(*s).close();
  }

 private:
  fake_net::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto sock = co_await acceptor_.async_accept(fake_net::redirect_error(fake_net::use_awaitable, ec));
      if (ec) co_return;  // stopped
      ++accepted_;
      auto stream = std::make_shared<Stream>(std::move(sock), tls_);
      streams_.push_back(stream);
      fake_net::co_spawn(io_, serve(stream, accepted_), fake_net::detached);
    }
  }

  fake_net::awaitable<void> serve(std::shared_ptr<Stream> s, std::size_t conn) {
    namespace http = boost::beast::http;
    boost::system::error_code ec;
    co_await s->async_handshake(fake_net::ssl::stream_base::server, fake_net::redirect_error(fake_net::use_awaitable, ec));
    if (ec) co_return;  // e.g. the client rejected our certificate
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      co_await http::async_read(*s, buf, req, fake_net::redirect_error(fake_net::use_awaitable, ec));
      if (ec) co_return;  // the client closed the connection
      FakeRequest fr{std::string(req.method_string()), std::string(req.target()), req.body(),
                     std::string(req[http::field::authorization]), std::string(req[http::field::content_type]), conn, {}};
      for (const auto& f : req) fr.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      requests_.push_back(fr);
      const FakeReply reply = handler_(fr);
      if (reply.drop) {
        boost::beast::get_lowest_layer(*s).close();
        co_return;
      }
      if (!reply.raw.empty()) {
        for (const auto& piece : reply.raw) {
          co_await fake_net::async_write(*s, fake_net::buffer(piece), fake_net::redirect_error(fake_net::use_awaitable, ec));
          if (ec) co_return;
        }
      } else if (!reply.hang) {
        http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
        res.set(http::field::content_type, "application/json");
        for (const auto& [k, v] : reply.headers) res.set(k, v);
        res.body() = reply.body;
        res.keep_alive(!reply.close_after || reply.claim_keep_alive);
        res.prepare_payload();
        co_await http::async_write(*s, res, fake_net::redirect_error(fake_net::use_awaitable, ec));
        if (ec) co_return;
      }
      if (reply.hang) {
        char sink[256];
        while (!ec) co_await s->async_read_some(fake_net::buffer(sink), fake_net::redirect_error(fake_net::use_awaitable, ec));
        co_return;
      }
      if (reply.close_after) {
        boost::beast::get_lowest_layer(*s).close();
        co_return;
      }
    }
  }

  fake_net::io_context& io_;
  FakeHandler handler_;
  fake_net::ssl::context tls_;
  fake_net::ip::tcp::acceptor acceptor_;
  std::vector<std::weak_ptr<Stream>> streams_;
  std::vector<FakeRequest> requests_;
  std::size_t accepted_ = 0;
};

// Runs `body` (a coroutine doing the client side) to completion on `io`, then stops the
// server so run() returns. Exceptions from the coroutine propagate to the test.
template <class Body>
void run_against(fake_net::io_context& io, FakeApiServer& server, Body body) {
  bool finished = false;
  std::exception_ptr failure;
  fake_net::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
    failure = e;
    finished = true;
    server.stop();
  });
  io.run();
  io.restart();
  if (failure) std::rethrow_exception(failure);
  if (!finished) throw std::runtime_error("the test coroutine never finished");
}

}  // namespace kle::testing
