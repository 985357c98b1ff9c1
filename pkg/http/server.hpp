#pragma once
// One small HTTP/1.1 server for the controller's probes and metrics. Runs as coroutines on
// the caller's executor (no threads of its own); GET/HEAD only; keep-alive; every read and
// write has a deadline so a slow or stalled client cannot pin a connection; a cap on
// concurrent connections and on header size bounds what a scraper storm can cost.
//
// Threading: all member functions must be called on the executor's thread (e.g. from a
// signal handler or coroutine on the same io_context), the way cmd/ runs one io_context.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "api/result.hpp"
#include "http/response.hpp"

namespace kle::http {

struct ServerOptions {
  std::string address = "0.0.0.0:8080";  // see parse_listen_address
  // Deadline for reading one whole request, including the keep-alive wait before it.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // Connections beyond this are accepted and closed at once, so the backlog never fills.
  std::size_t max_connections = 32;
  std::uint32_t max_header_bytes = 8U * 1024U;  // 431 beyond this
  std::uint64_t max_body_bytes = 4UL * 1024UL;  // GET/HEAD carry none; 413 beyond this
};

class Server {
 public:
  Server(boost::asio::any_io_executor executor, ServerOptions options);
  Server(boost::asio::io_context& io, ServerOptions options);
  // stop()s. Destroy before the io_context; coroutines still running hold shared state,
  // never *this, so the Server may go before they finish.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Exact-path route; a second handler for the same path replaces the first.
  void handle(std::string path, Handler handler);

  // Parses the address, binds and listens, then accepts in the background. Call once. Errors
  // (ErrorKind::config) name the address and the reason, e.g. "Address already in use".
  api::Result<void> start();
  // The bound endpoint; with port 0 this is where the kernel put us.
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;
  [[nodiscard]] std::uint16_t port() const { return local_endpoint().port(); }
  // Live connections right now (for tests and debugging).
  [[nodiscard]] std::size_t connections() const;

  // Closes the acceptor and every live connection; idempotent.
  void stop();

  struct State;  // implementation detail, shared with the running coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kle::http
