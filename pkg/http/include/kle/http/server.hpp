#pragma once
// One small HTTP/1.1 server for the controller's probes and metrics. Runs as coroutines on
// the caller's executor (no threads of its own); GET/HEAD only; keep-alive; every read and
// write has a deadline. It must keep answering the kubelet's liveness probe while anyone who
// can reach the port holds connections open (issue 15): a request must arrive whole within a
// few seconds, and when the connection cap is reached a new connection is admitted by closing
// the one that has waited longest for its request, so idle and slowloris connections cannot
// lock a probe out, and memory and descriptors stay bounded.
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

#include <kle/api/result.hpp>
#include <kle/http/response.hpp>

namespace kle::http {

struct ServerOptions {
  std::string address = "0.0.0.0:8080";  // see parse_listen_address
  // A request (headers and the tiny body) must arrive whole within this, counted from accept
  // on a new connection and from its first byte on a kept-alive one. Probes and scrapers send
  // theirs at once; an idle or trickling (slowloris) client is dropped when it runs out.
  std::chrono::milliseconds request_timeout{3'000};
  // How long a kept-alive connection may wait for the first byte of its next request.
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds write_timeout{10'000};
  // Open connections at most; start() lowers it to half the RLIMIT_NOFILE soft limit, so the
  // API client always finds a descriptor. At the cap a new connection is still admitted: the
  // connection that has waited longest for its request (idle, slowloris) is closed for it.
  std::size_t max_connections = 256;
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
  // Open connections right now (for tests and debugging).
  [[nodiscard]] std::size_t connections() const;
  // The cap in force: max_connections, lowered by start() to half the descriptor limit.
  [[nodiscard]] std::size_t connection_limit() const;
  // Connections closed at the cap to admit a newer one, since construction.
  [[nodiscard]] std::uint64_t evictions() const;

  // Closes the acceptor and every live connection; idempotent.
  void stop();

  struct State;  // implementation detail, shared with the running coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kle::http
