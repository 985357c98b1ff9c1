#include <kle/http/server.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <exception>
#include <list>
#include <map>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <kle/http/address.hpp>

namespace kle::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

namespace detail {
class Connection;
}  // namespace detail

struct Server::State {
  asio::any_io_executor executor;
  ServerOptions options;
  std::map<std::string, Handler, std::less<>> routes;
  std::optional<tcp::acceptor> acceptor;
  tcp::endpoint bound;
  // Every open connection, the one waiting longest for its current request first: at the cap
  // the front is closed to admit a new one. Connections add, move and remove themselves.
  std::list<detail::Connection*> open;
  std::size_t limit = 0;  // max_connections as lowered by start()
  std::uint64_t evictions = 0;
  bool stopped = false;
};

namespace detail {

// One accepted socket and its place in State::open. Owned by its session coroutine; holds
// the state, so it may outlive the Server. Made by the accept loop, so the cap counts it
// before its session has started.
class Connection {
 public:
  Connection(std::shared_ptr<Server::State> state, tcp::socket socket)
      : state_(std::move(state)), stream_(std::move(socket)) {
    place_ = state_->open.insert(state_->open.end(), this);
  }
  ~Connection() {
    if (listed_) state_->open.erase(place_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Server::State& state() { return *state_; }
  beast::tcp_stream& stream() { return stream_; }
  [[nodiscard]] bool closed() const { return !listed_; }

  // It starts waiting for a request: the last in line to be evicted.
  void waiting() {
    if (listed_) state_->open.splice(state_->open.end(), state_->open, place_);
  }
  // Closes the socket at once; the session sees its pending I/O aborted and unwinds.
  // graceful: half-close first, so the client reads our last response before EOF.
  void close(bool graceful) {
    if (!listed_) return;
    state_->open.erase(place_);
    listed_ = false;
    error_code ignored;
    stream_.socket().shutdown(graceful ? tcp::socket::shutdown_send : tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  std::shared_ptr<Server::State> state_;
  beast::tcp_stream stream_;
  std::list<Connection*>::iterator place_;
  bool listed_ = true;
};

}  // namespace detail

namespace {

using StatePtr = std::shared_ptr<Server::State>;
using detail::Connection;
using Parser = bhttp::request_parser<bhttp::string_body>;

// Closes the connection that has waited longest for its request; false if none is open.
bool evict_oldest(Server::State& state) {
  if (state.open.empty()) return false;
  state.open.front()->close(false);
  ++state.evictions;
  return true;
}

Response route(const Server::State& state, const BeastRequest& req) {
  const std::string_view target = req.target();
  const auto q = target.find('?');
  Request request;
  request.method = req.method();
  request.path = std::string(target.substr(0, q));
  request.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));

  const auto it = state.routes.find(request.path);
  if (it == state.routes.end()) return text_response(404, "not found\n");
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    auto r = text_response(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  try {
    return it->second(request);
  } catch (const std::exception& e) {
    // Handlers should not throw; if one does, this request fails, not the server.
    return text_response(500, std::string("internal error: ") + e.what() + "\n");
  }
}

BeastResponse to_beast(Response r, unsigned version, bool keep_alive, bool head) {
  BeastResponse res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive);
  const auto length = r.body.size();
  if (!head) res.body() = std::move(r.body);
  // HEAD: the same Content-Length as GET would send, and no body.
  res.content_length(length);
  return res;
}

// A request we could not parse gets a short answer and the connection is closed.
unsigned status_for_read_error(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

// Beast's http category holds the parser's complaints (and end_of_stream, handled apart).
bool is_parse_error(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::header_limit).category();
}

asio::awaitable<void> write_with_deadline(Server::State& state, beast::tcp_stream& stream,
                                          BeastResponse& res, error_code& ec) {
  stream.expires_after(state.options.write_timeout);
  co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
}

// Reads one request. On a kept-alive connection the first byte may take idle_timeout; from
// then on (and on a new connection, from accept) the whole request must come within
// request_timeout, however slowly it trickles in.
asio::awaitable<void> read_request(Connection& conn, beast::flat_buffer& buffer, Parser& parser, bool kept_alive,
                                   error_code& ec) {
  const auto& opt = conn.state().options;
  auto& stream = conn.stream();
  if (kept_alive && buffer.size() == 0) {
    stream.expires_after(opt.idle_timeout);
    const std::size_t n =
        co_await stream.async_read_some(buffer.prepare(512), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    buffer.commit(n);
  }
  parser.header_limit(opt.max_header_bytes);
  parser.body_limit(opt.max_body_bytes);
  stream.expires_after(opt.request_timeout);
  co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> session(std::unique_ptr<Connection> conn) {
  Server::State& state = conn->state();
  auto& stream = conn->stream();
  const auto& opt = state.options;
  beast::flat_buffer buffer(static_cast<std::size_t>(opt.max_header_bytes + opt.max_body_bytes));
  error_code ec;
  for (bool kept_alive = false; !state.stopped && !conn->closed(); kept_alive = true) {
    conn->waiting();
    Parser parser;
    co_await read_request(*conn, buffer, parser, kept_alive, ec);
    if (ec) {
      if (is_parse_error(ec) && ec != bhttp::error::end_of_stream && !conn->closed()) {
        auto res = to_beast(text_response(status_for_read_error(ec), ec.message() + "\n"), 11, false, false);
        co_await write_with_deadline(state, stream, res, ec);
      }
      break;  // end_of_stream, timeout (Beast closed the socket), evicted, stop(), reset
    }
    const auto& req = parser.get();
    const bool head = req.method() == bhttp::verb::head;
    auto res = to_beast(route(state, req), req.version(), req.keep_alive(), head);
    co_await write_with_deadline(state, stream, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  conn->close(true);
}

void drop(tcp::socket& socket) {
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

bool out_of_descriptors(const error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
}

asio::awaitable<void> accept_loop(StatePtr state) {
  while (!state->stopped) {
    error_code ec;
    tcp::socket socket = co_await state->acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopped) {
      drop(socket);
      break;
    }
    // Out of descriptors after all (the rest of the process uses them too): free one the
    // same way as at the cap, else back off briefly instead of spinning on the error.
    if (ec && out_of_descriptors(ec) && evict_oldest(*state)) continue;
    if (ec) {
      asio::steady_timer backoff(state->executor, std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // At the cap, make room rather than refuse: refusing the newest lets whoever holds the
    // oldest connections (idle, slowloris) lock out every probe.
    if (state->open.size() >= state->limit) evict_oldest(*state);
    auto conn = std::make_unique<Connection>(state, std::move(socket));
    asio::co_spawn(state->executor, session(std::move(conn)), asio::detached);
  }
}

// Half the soft descriptor limit at most: the API client, the watch and a workload's pipes
// must still find descriptors while the server is full.
std::size_t effective_limit(std::size_t configured) {
  std::size_t limit = std::max<std::size_t>(configured, 1);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    limit = std::min<std::size_t>(limit, std::max<std::size_t>(static_cast<std::size_t>(rl.rlim_cur / 2), 1));
  }
  return limit;
}

api::Error start_error(const std::string& address, const char* step, const error_code& ec) {
  return api::local_error(api::ErrorKind::config, "HTTP server on \"" + address + "\": " + step + ": " + ec.message());
}

}  // namespace

Server::Server(asio::any_io_executor executor, ServerOptions options) : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
  state_->options = std::move(options);
}

Server::Server(asio::io_context& io, ServerOptions options) : Server(io.get_executor(), std::move(options)) {}

Server::~Server() { stop(); }

void Server::handle(std::string path, Handler handler) { state_->routes[std::move(path)] = std::move(handler); }

api::Result<void> Server::start() {
  const auto& address = state_->options.address;
  if (state_->acceptor) {
    return start_error(address, "start", make_error_code(asio::error::already_started));
  }
  auto endpoint = parse_listen_address(address);
  if (!endpoint) return endpoint.error();
  tcp::acceptor acceptor(state_->executor);
  error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (ec) return start_error(address, "open", ec);
  // Restarting right after a crash must not fail on sockets left in TIME_WAIT.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return start_error(address, "setsockopt", ec);
  acceptor.bind(*endpoint, ec);
  if (ec) return start_error(address, "bind", ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return start_error(address, "listen", ec);
  state_->bound = acceptor.local_endpoint(ec);
  state_->acceptor.emplace(std::move(acceptor));
  state_->limit = effective_limit(state_->options.max_connections);
  state_->stopped = false;
  asio::co_spawn(state_->executor, accept_loop(state_), asio::detached);
  return {};
}

tcp::endpoint Server::local_endpoint() const { return state_->bound; }

std::size_t Server::connections() const { return state_->open.size(); }

std::size_t Server::connection_limit() const { return state_->limit; }

std::uint64_t Server::evictions() const { return state_->evictions; }

void Server::stop() {
  auto& s = *state_;
  s.stopped = true;
  error_code ignored;
  if (s.acceptor) s.acceptor->close(ignored);
  // Each close() unlinks the front; the sessions see their I/O aborted and unwind.
  while (!s.open.empty()) s.open.front()->close(false);
}

}  // namespace kle::http
