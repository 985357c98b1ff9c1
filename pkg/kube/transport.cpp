#include <kle/kube/transport.hpp>

#include <array>
#include <deque>
#include <set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <kle/kube/tls_context.hpp>
#include "transport_resolve.hpp"

namespace kle::kube {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using api::Error;
using api::ErrorKind;
using api::local_error;
using api::Result;

struct Connection {
  Connection(const net::any_io_executor& ex, std::shared_ptr<ssl::context> c)
      : ctx(std::move(c)), stream(ex, *ctx) {}
  std::shared_ptr<ssl::context> ctx;  // declared first: the stream is built from it
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};
  bool aborted = false;  // close() aborted it: its failures are cancellations
};
using ConnPtr = std::unique_ptr<Connection>;

// Registers a connection as in flight so close() can abort it; unregisters on scope exit.
class ActiveScope {
 public:
  ActiveScope(std::set<Connection*>& set, Connection* c) : set_(set), c_(c) { set_.insert(c_); }
  ~ActiveScope() { set_.erase(c_); }
  ActiveScope(const ActiveScope&) = delete;
  ActiveScope& operator=(const ActiveScope&) = delete;

 private:
  std::set<Connection*>& set_;
  Connection* c_;
};

// Errors that mean the peer had already closed the connection when we used it.
bool is_dead_connection(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

std::string host_header(const ClusterConfig& c) {
  std::string h = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  if (c.port != "443") h += ":" + c.port;
  return h;
}

}  // namespace

struct Transport::Impl {
  net::any_io_executor ex;
  ClusterConfig config;
  TransportOptions options;
  TokenSource tokens;
  TlsContextCache tls;
  std::vector<ConnPtr> idle;
  std::set<Connection*> active;
  TransportStats stats;
  // Request connections open (in use or idle), never above options.max_connections. A slot
  // freed while requests wait passes straight to the oldest of them, with its connection
  // when that is reusable.
  std::size_t slots = 0;
  struct Waiter {
    explicit Waiter(const net::any_io_executor& e) : timer(e) {}
    net::steady_timer timer;  // expires at the request's deadline; cancelled to wake it
    bool granted = false;     // a slot is now the waiter's, with `conn` or without (open one)
    bool closed = false;      // close() woke it: fail as cancelled
    ConnPtr conn;
  };
  std::deque<std::shared_ptr<Waiter>> waiters;

  Impl(net::any_io_executor e, ClusterConfig c, TransportOptions o)
      : ex(std::move(e)), config(std::move(c)), options(std::move(o)),
        tokens(config.token, config.token_file, options.token_refresh, refusal_logger(options.log)),
        tls(config.tls, config.host) {}

  static TokenSource::RefusalHandler refusal_logger(const std::optional<log::Logger>& log) {
    if (!log) return {};
    return [log = *log](const std::string& reason) { log.warn("refusing the re-read bearer token", {{"reason", reason}}); };
  }

  [[nodiscard]] std::string peer() const { return host_header(config); }

  Error classify(const Connection& c, const error_code& ec, const std::string& what) const {
    if (c.aborted || ec == net::error::operation_aborted)
      return local_error(ErrorKind::cancelled, what + ": cancelled");
    if (ec == beast::error::timeout)
      return local_error(ErrorKind::timeout, what + ": deadline of " +
                                                std::to_string(options.request_timeout.count()) +
                                                "ms passed");
    return local_error(ErrorKind::transport, what + ": " + ec.message());
  }

  // A failed read: says whether the response was torn, malformed or too big.
  Error read_error(const Connection& c, const error_code& ec, bool got_some) const {
    const std::string what = "reading the response from " + peer();
    if (c.aborted || ec == net::error::operation_aborted || ec == beast::error::timeout)
      return classify(c, ec, what);
    if (ec == http::error::header_limit)
      return local_error(ErrorKind::bad_response, what + ": response header exceeds the " +
                                                     std::to_string(options.max_header_bytes) + "-byte limit");
    if (ec == http::error::body_limit)
      return local_error(ErrorKind::bad_response, what + ": response body exceeds the " +
                                                     std::to_string(options.max_body_bytes) + "-byte limit");
    if (got_some && (is_dead_connection(ec) || ec == http::error::partial_message))
      return local_error(ErrorKind::transport,
                        what + ": connection closed mid-response (torn response: " + ec.message() + ")");
    if (is_dead_connection(ec))
      return local_error(ErrorKind::transport, what + ": connection closed before any response (" + ec.message() + ")");
    if (ec.category() == http::make_error_code(http::error::bad_chunk).category())
      return local_error(ErrorKind::transport, what + ": malformed HTTP response: " + ec.message());
    return classify(c, ec, what);
  }

  Clock::time_point token_now() const {
    return options.token_clock ? options.token_clock() : Clock::now();
  }

  // Fails only when there is no token that can be sent (see TokenSource).
  Result<http::request<http::string_body>> build(const HttpRequest& req) {
    auto token = tokens.token(token_now());
    if (!token) return local_error(ErrorKind::config, "not sending a request to " + peer() + " (" + config.source +
                                                         "): " + token.error().message);
    http::request<http::string_body> msg{req.method, req.target, 11};
    msg.set(http::field::host, peer());
    msg.set(http::field::user_agent, options.user_agent);
    msg.set(http::field::accept, "application/json");
    // The token goes into this header and nowhere else (never into errors or logs).
    if (!token->empty()) msg.set(http::field::authorization, "Bearer " + *token);
    if (!req.content_type.empty()) msg.set(http::field::content_type, req.content_type);
    msg.body() = req.body;
    msg.keep_alive(true);
    msg.prepare_payload();
    return msg;
  }

  net::awaitable<Result<void>> open(Connection& c, Clock::time_point deadline) {
    auto lookup = resolve_until(ex, options.resolve, config.host, config.port, deadline);
    auto endpoints = co_await std::move(lookup);
    if (!endpoints) co_return endpoints.error();
    if (c.aborted) co_return local_error(ErrorKind::cancelled, "connecting to " + peer() + ": cancelled");
    auto& lowest = beast::get_lowest_layer(c.stream);
    lowest.expires_at(deadline);
    error_code ec;
    co_await lowest.async_connect(*endpoints, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return classify(c, ec, "connecting to " + peer());
    if (auto set = tls.prepare(c.stream.native_handle()); !set) co_return set.error();
    co_await c.stream.async_handshake(ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return classify(c, ec, "TLS handshake with " + peer());
    ++stats.connections_opened;
    co_return Result<void>{};
  }

  Result<ConnPtr> fresh_connection() {
    auto ctx = tls.context();
    if (!ctx) return ctx.error();
    return std::make_unique<Connection>(ex, std::move(ctx).value());
  }

  ConnPtr take_idle() {
    const auto now = Clock::now();
    while (!idle.empty()) {
      ConnPtr c = std::move(idle.back());
      idle.pop_back();
      if (now - c->idle_since <= options.max_idle_time) return c;
      --slots;
    }
    return nullptr;
  }

  // Drops what take_idle() would skip anyway, so that expired connections do not fill the pool.
  void drop_expired() {
    const auto now = Clock::now();
    slots -= std::erase_if(idle, [&](const ConnPtr& c) { return now - c->idle_since > options.max_idle_time; });
  }

  // A request connection's slot, given back on every path out of a request (a cancelled
  // coroutine unwinds through it too). `conn` is empty until one is taken or opened.
  class Slot {
   public:
    explicit Slot(Impl& i) : impl_(&i) {}
    Slot(Slot&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)), conn(std::move(o.conn)) {}
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      if (impl_) impl_->release(std::move(conn), false);
    }
    // Gives the connection back for reuse (when it can be) and the slot with it.
    void keep() { std::exchange(impl_, nullptr)->release(std::move(conn), true); }
    // This Slot never held a slot (a wait that was not granted): nothing to give back.
    void forget() { impl_ = nullptr; }

   private:
    Impl* impl_;

   public:
    ConnPtr conn;
  };

  // max_connections, where 0 (nonsense) means 1 rather than requests that can never be sent.
  [[nodiscard]] std::size_t cap() const { return std::max<std::size_t>(options.max_connections, 1); }

  // A pooled connection, or a slot to open one in, or a wait (until `deadline`) for either.
  net::awaitable<Result<Slot>> acquire(Clock::time_point deadline) {
    if (ConnPtr c = take_idle()) {
      Slot s(*this);
      s.conn = std::move(c);
      co_return std::move(s);
    }
    if (slots < cap()) {
      ++slots;
      co_return Slot(*this);  // empty: the caller opens a connection in it
    }
    auto w = std::make_shared<Waiter>(ex);
    waiters.push_back(w);
    ++stats.requests_queued;
    stats.max_queue_depth = std::max(stats.max_queue_depth, waiters.size());
    // However the wait ends (granted, timed out, closed, or the caller's cancellation
    // unwinding the coroutine), the waiter leaves the queue and a granted slot is not lost.
    Slot s(*this);
    struct Leave {
      Impl& impl;
      Waiter& w;
      Slot& s;
      ~Leave() {
        if (w.granted) {
          s.conn = std::move(w.conn);
        } else {
          std::erase_if(impl.waiters, [this](const auto& p) { return p.get() == &w; });
          s.forget();
        }
      }
    };
    error_code ec;  // operation_aborted: close() or the caller cancelled; none: the deadline
    {
      Leave leave{*this, *w, s};
      w->timer.expires_at(deadline);
      co_await w->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (w->granted) co_return std::move(s);  // the slot is ours even if the wait also timed out
    if (w->closed || ec == net::error::operation_aborted)
      co_return local_error(ErrorKind::cancelled, "waiting for a connection to " + peer() + ": cancelled");
    co_return local_error(ErrorKind::timeout, "waiting for a connection to " + peer() + ": deadline of " +
                                                  std::to_string(options.request_timeout.count()) + "ms passed with all " +
                                                  std::to_string(cap()) +
                                                  " connections busy (TransportOptions::max_connections)");
  }

  // The end of a slot: its connection, if reusable, goes to the oldest waiter or the pool.
  void release(ConnPtr c, bool reusable) {
    if (c && (!reusable || c->aborted || c->buffer.size() != 0)) c.reset();
    if (!waiters.empty()) {
      auto w = std::move(waiters.front());
      waiters.pop_front();
      w->granted = true;
      w->conn = std::move(c);
      w->timer.cancel();
      return;
    }
    if (c && idle.size() < options.max_idle_connections) {
      c->idle_since = Clock::now();
      idle.push_back(std::move(c));
      return;
    }
    --slots;
  }

  net::awaitable<Result<void>> warm() {
    drop_expired();
    const auto now = Clock::now();
    for (const auto& c : idle) {
      if (now - c->idle_since < options.max_idle_time / 2) co_return Result<void>{};
    }
    if (slots >= cap()) co_return Result<void>{};  // all open: one will be free
    ++slots;
    Slot slot(*this);
    auto made = fresh_connection();
    if (!made) co_return made.error();
    slot.conn = std::move(made).value();
    {
      ActiveScope scope(active, slot.conn.get());  // close() aborts it like a request
      if (auto opened = co_await open(*slot.conn, now + options.request_timeout); !opened) co_return opened.error();
    }
    ++stats.connections_warmed;
    slot.keep();
    co_return Result<void>{};
  }

  struct Exchange {
    Result<HttpResponse> result;
    bool keep_alive = false;
    bool dead_before_response = false;  // the peer had closed before sending a single byte
  };

  net::awaitable<Exchange> exchange(Connection& c, const http::request<http::string_body>& msg,
                                    Clock::time_point deadline) {
    beast::get_lowest_layer(c.stream).expires_at(deadline);
    error_code ec;
    co_await http::async_write(c.stream, msg, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return Exchange{classify(c, ec, "writing the request to " + peer()), false, is_dead_connection(ec)};
    http::response_parser<http::string_body> parser;
    parser.header_limit(options.max_header_bytes);
    parser.body_limit(options.max_body_bytes);
    co_await http::async_read(c.stream, c.buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      const bool got_some = parser.got_some() || c.buffer.size() != 0;
      co_return Exchange{read_error(c, ec, got_some), false, !got_some && is_dead_connection(ec)};
    }
    auto& res = parser.get();
    HttpResponse out{static_cast<int>(res.result_int()), std::move(res.body()),
                     std::string(res[http::field::retry_after])};
    co_return Exchange{std::move(out), res.keep_alive(), false};
  }

  net::awaitable<Result<HttpResponse>> request(HttpRequest req) {
    const auto deadline = Clock::now() + options.request_timeout;
    auto msg = build(req);
    if (!msg) co_return msg.error();
    auto acquired = co_await acquire(deadline);
    if (!acquired) co_return acquired.error();
    Slot slot = std::move(acquired).value();
    for (int attempt = 0;; ++attempt) {
      // The retry goes to a fresh connection: whatever killed one pooled connection (a
      // server restart, an idle timeout) has likely killed its pooled siblings too.
      const bool reused = attempt == 0 && slot.conn != nullptr;
      if (!reused) {
        auto made = fresh_connection();
        if (!made) co_return made.error();
        slot.conn = std::move(made).value();
      }
      ActiveScope scope(active, slot.conn.get());
      if (reused) {
        ++stats.connections_reused;
      } else if (auto opened = co_await open(*slot.conn, deadline); !opened) {
        co_return opened.error();
      }
      auto done = co_await exchange(*slot.conn, *msg, deadline);
      if (done.result.ok()) {
        if (done.keep_alive) slot.keep();
        co_return std::move(done.result);
      }
      // Retry rule: a keep-alive connection can be closed by the server (idle timeout,
      // restart) while it sits in our pool, and we only learn so when we use it. If a
      // REUSED connection fails with a clean close/reset before a single response byte,
      // the server never processed our request, so sending it once more on a FRESH
      // connection is safe (and our writes are conditional on resourceVersion anyway).
      // Never retry a fresh connection, a timeout, or a failure after response bytes:
      // the request may have been processed, and the caller must see the error.
      if (reused && done.dead_before_response) {
        ++stats.stale_retries;
        continue;
      }
      co_return std::move(done.result);
    }
  }

  // Reads the rest of a buffer_body response into `sink`, with an idle deadline per read.
  net::awaitable<Result<void>> read_body(Connection& c, http::response_parser<http::buffer_body>& p,
                                         std::chrono::milliseconds idle_timeout, const BodySink& sink) {
    std::array<char, std::size_t{16} * 1024> buf{};
    while (!p.is_done()) {
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      beast::get_lowest_layer(c.stream).expires_after(idle_timeout);
      error_code ec;
      co_await http::async_read_some(c.stream, c.buffer, p, net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};  // our buffer is full: not an error
      const std::size_t n = buf.size() - p.get().body().size;
      // Closes pooled connections past max_idle_time now rather than when the next request
      // would skip them: an idle follower sends nothing for hours while its watch carries the
      // leader's renewals, and each idle TLS connection costs us and the apiserver tens of
      // KiB. Here, not on a timer, so that no pending wait keeps a caller's io_context running.
      drop_expired();
      if (n > 0) {
        if (auto r = sink(std::string_view(buf.data(), n)); !r) co_return r;
      }
      if (ec) co_return read_error(c, ec, true);
    }
    co_return Result<void>{};
  }

  net::awaitable<Result<HttpResponse>> stream(HttpRequest req, std::chrono::milliseconds idle_timeout,
                                              BodySink sink) {
    const auto deadline = Clock::now() + options.request_timeout;
    auto msg = build(req);
    if (!msg) co_return msg.error();
    auto made = fresh_connection();
    if (!made) co_return made.error();
    ConnPtr conn = std::move(made).value();
    ActiveScope scope(active, conn.get());
    if (auto opened = co_await open(*conn, deadline); !opened) co_return opened.error();
    beast::get_lowest_layer(conn->stream).expires_at(deadline);
    error_code ec;
    co_await http::async_write(conn->stream, *msg, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return classify(*conn, ec, "writing the request to " + peer());
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(options.max_header_bytes);
    parser.body_limit(boost::none);  // a watch streams for minutes; error bodies are bounded below
    co_await http::async_read_header(conn->stream, conn->buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return read_error(*conn, ec, parser.got_some() || conn->buffer.size() != 0);
    HttpResponse out{static_cast<int>(parser.get().result_int()), {},
                     std::string(parser.get()[http::field::retry_after])};
    if (out.status / 100 == 2) {
      if (auto r = co_await read_body(*conn, parser, idle_timeout, sink); !r) co_return r.error();
      co_return out;
    }
    const std::size_t limit = options.max_body_bytes;
    BodySink collect = [&out, limit](std::string_view d) -> Result<void> {
      if (out.body.size() + d.size() > limit)
        return local_error(ErrorKind::bad_response, "error response exceeds " + std::to_string(limit) + " bytes");
      out.body.append(d);
      return {};
    };
    if (auto r = co_await read_body(*conn, parser, options.request_timeout, collect); !r) co_return r.error();
    co_return out;
  }
};

Transport::Transport(net::any_io_executor ex, ClusterConfig config, TransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(config), std::move(options))) {}

Transport::~Transport() = default;

// A cancelled coroutine (the caller's cancellation slot fired) throws at its next suspension;
// the public entry points turn that back into a value.
net::awaitable<Result<HttpResponse>> Transport::request(HttpRequest req) {
  try {
    co_return co_await impl_->request(std::move(req));
  } catch (const boost::system::system_error& e) {
    co_return local_error(ErrorKind::cancelled, std::string("request cancelled: ") + e.what());
  }
}

net::awaitable<Result<HttpResponse>> Transport::stream(HttpRequest req, std::chrono::milliseconds idle_timeout,
                                                       BodySink sink) {
  try {
    co_return co_await impl_->stream(std::move(req), idle_timeout, std::move(sink));
  } catch (const boost::system::system_error& e) {
    co_return local_error(ErrorKind::cancelled, std::string("stream cancelled: ") + e.what());
  }
}

net::awaitable<Result<void>> Transport::warm() {
  try {
    co_return co_await impl_->warm();
  } catch (const boost::system::system_error& e) {
    co_return local_error(ErrorKind::cancelled, std::string("warm-up cancelled: ") + e.what());
  }
}

void Transport::close() {
  impl_->slots -= impl_->idle.size();
  impl_->idle.clear();
  for (auto& w : impl_->waiters) {
    w->closed = true;
    w->timer.cancel();
  }
  impl_->waiters.clear();  // none of them may be granted a slot now
  for (Connection* c : impl_->active) {
    c->aborted = true;
    beast::get_lowest_layer(c->stream).close();  // pending operations complete with an error
  }
}

const TransportStats& Transport::stats() const noexcept { return impl_->stats; }
std::size_t Transport::idle_connections() const noexcept { return impl_->idle.size(); }
std::size_t Transport::open_connections() const noexcept { return impl_->slots; }

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    const bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                            u == '-' || u == '.' || u == '_' || u == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0F];
    }
  }
  return out;
}

}  // namespace kle::kube
