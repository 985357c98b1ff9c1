#pragma once
// HTTPS to the API server on Boost.Beast + OpenSSL, as C++20 coroutines on one executor.
//
// - Full verification: the CA bundle (re-read from TlsConfig::ca_file before each new
//   connection, so a rotated CA is picked up), SNI, and a hostname or IP check; client
//   certificates. Verification cannot be turned off.
// - A bearer token from TokenSource (file re-read at most once per token_refresh). The token
//   only ever goes into the Authorization header: never into errors or logs. A token that
//   cannot be a header value is never sent: a request with no usable token fails with
//   ErrorKind::config before connecting, and a refused re-read is logged (options.log).
// - A small keep-alive pool; one deadline per request covering connect, TLS, write and read.
// - Any HTTP status is a *value* here (HttpResponse); errors are only failures to obtain a
//   complete response: transport, timeout, cancelled, bad_response (header or body over its
//   limit), and config (no token that can be sent, or a TLS setup failure).
//
// Not thread-safe: all calls must run on the same (single-threaded or strand) executor, and
// the Transport must outlive every call it started.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/verb.hpp>

#include <kle/api/result.hpp>
#include <kle/kube/config.hpp>
#include <kle/log/logger.hpp>

namespace kle::kube {

struct HttpRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;        // path and query, already percent-encoded
  std::string body;
  std::string content_type;  // empty when there is no body
};

struct HttpResponse {
  int status = 0;
  std::string body;          // empty for a streamed 2xx body (it went to the BodySink)
  std::string retry_after;   // the Retry-After header, when present
};

// Resolves host and port, calling `done` exactly once, whenever it likes (a resolver that
// stalls may never call it: the request gives up at its deadline regardless).
using ResolveDone = std::function<void(boost::system::error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;
using Resolve = std::function<void(const std::string& host, const std::string& port, ResolveDone done)>;

struct TransportOptions {
  std::chrono::milliseconds request_timeout{5000};
  std::string user_agent = "kube-leader-elector/0.1";
  std::size_t max_body_bytes = std::size_t{16} << 20;  // a bad server cannot exhaust memory
  std::uint32_t max_header_bytes = 64 * 1024;          // status line and header fields
  // At most this many request connections (in use or idle; watches from stream() are not
  // counted). A request that finds them all busy waits for one, within its own deadline,
  // rather than opening another: N Electors renewing at once on one Client then cost the
  // apiserver and us max_connections TLS sessions, not N handshakes per round (issue 14).
  std::size_t max_connections = 16;
  // Kept for reuse, each for at most max_idle_time. A controller with one Lease never has more
  // than two or three requests in flight, so it never holds more than that.
  std::size_t max_idle_connections = 16;
  // A pooled connection idle longer than this is dropped rather than tried: servers and
  // middleboxes close idle connections, and a fresh one is cheaper than a failed attempt.
  std::chrono::seconds max_idle_time{60};
  std::chrono::seconds token_refresh{60};
  // The clock for token re-reads; tests inject a fake one. Empty means steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> token_clock;
  // Where a refused token re-read is reported (warn). Empty: nowhere.
  std::optional<log::Logger> log;
  // Name resolution; tests inject a stalled one. Empty: Asio's resolver (getaddrinfo).
  Resolve resolve;
};

// Receives a streamed 2xx body piece by piece (a watch). Returning an error stops the stream
// and becomes the result of Transport::stream.
using BodySink = std::function<api::Result<void>(std::string_view data)>;

struct TransportStats {
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_reused = 0;
  std::uint64_t stale_retries = 0;  // requests retried because a pooled connection was dead
  std::uint64_t connections_warmed = 0;  // opened by warm() into the pool, no request sent
  std::uint64_t requests_queued = 0;     // waited for a connection: all max_connections were busy
  std::size_t max_queue_depth = 0;       // most requests waiting at once
};

class Transport {
 public:
  Transport(boost::asio::any_io_executor ex, ClusterConfig config, TransportOptions options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // One request and its complete response, on a pooled keep-alive connection.
  boost::asio::awaitable<api::Result<HttpResponse>> request(HttpRequest req);

  // A long-running request on its own connection (never pooled). Connect, TLS, write and the
  // response header share request_timeout; after that each read may wait up to idle_timeout.
  // A 2xx body goes to `sink` as it arrives; any other status is returned with its body read
  // in full (bounded by max_body_bytes). The stream ends cleanly only at the end of the HTTP
  // message; a connection closed before that is a transport error.
  boost::asio::awaitable<api::Result<HttpResponse>> stream(HttpRequest req,
                                                           std::chrono::milliseconds idle_timeout,
                                                           BodySink sink);

  // Opens one connection (TCP + TLS, verified as for any request) into the idle pool
  // without sending a request, so that the next request() skips the handshakes: a follower
  // whose leader went silent calls it before its takeover write (issue 14). Nothing is sent
  // to the server, so it costs the apiserver one accepted connection and no request. Does
  // nothing while the pool holds a connection idle for less than half of max_idle_time,
  // which will still be reusable when the takeover comes, or while all max_connections are
  // open. An error only means the next request connects as usual.
  boost::asio::awaitable<api::Result<void>> warm();

  // Drops idle connections and aborts every request in flight or waiting for a connection
  // (they fail with ErrorKind::cancelled). The Transport stays usable: later requests connect afresh.
  void close();

  [[nodiscard]] const TransportStats& stats() const noexcept;
  [[nodiscard]] std::size_t idle_connections() const noexcept;
  // Request connections open now, in use or idle (at most max_connections).
  [[nodiscard]] std::size_t open_connections() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query value or path segment (RFC 3986 unreserved characters pass).
std::string url_encode(std::string_view s);

}  // namespace kle::kube
