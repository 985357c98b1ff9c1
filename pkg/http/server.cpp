#include "http/server.hpp"

#include <exception>
#include <map>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

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

#include "http/address.hpp"

namespace kle::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

struct Server::State {
  asio::any_io_executor executor;
  ServerOptions options;
  std::map<std::string, Handler, std::less<>> routes;
  std::optional<tcp::acceptor> acceptor;
  tcp::endpoint bound;
  std::size_t active = 0;  // counted at accept, so the cap holds before a session starts
  std::unordered_set<beast::tcp_stream*> live;  // for stop(); sessions add and remove themselves
  bool stopped = false;
};

namespace {

using StatePtr = std::shared_ptr<Server::State>;

// Keeps the live set and the active count right however a session ends.
class SessionGuard {
 public:
  SessionGuard(Server::State& state, beast::tcp_stream& stream) : state_(state), stream_(stream) {
    state_.live.insert(&stream_);
  }
  ~SessionGuard() {
    state_.live.erase(&stream_);
    --state_.active;
  }
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;

 private:
  Server::State& state_;
  beast::tcp_stream& stream_;
};

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

asio::awaitable<void> session(StatePtr state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  SessionGuard guard(*state, stream);
  const auto& opt = state->options;
  beast::flat_buffer buffer(static_cast<std::size_t>(opt.max_header_bytes + opt.max_body_bytes));
  error_code ec;
  while (!state->stopped) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(opt.max_header_bytes);
    parser.body_limit(opt.max_body_bytes);
    // Covers the idle keep-alive wait and a client that sends half a request and stalls.
    stream.expires_after(opt.read_timeout);
    co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (is_parse_error(ec) && ec != bhttp::error::end_of_stream && !state->stopped) {
        auto res = to_beast(text_response(status_for_read_error(ec), ec.message() + "\n"), 11, false, false);
        co_await write_with_deadline(*state, stream, res, ec);
      }
      break;  // end_of_stream, timeout (Beast closed the socket), abort by stop(), reset
    }
    const auto& req = parser.get();
    const bool head = req.method() == bhttp::verb::head;
    auto res = to_beast(route(*state, req), req.version(), req.keep_alive(), head);
    co_await write_with_deadline(*state, stream, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  // Half-close so the client reads our last response before EOF; errors mean it is gone.
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

void drop(tcp::socket& socket) {
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

asio::awaitable<void> accept_loop(StatePtr state) {
  while (!state->stopped) {
    error_code ec;
    tcp::socket socket = co_await state->acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopped) {
      drop(socket);
      break;
    }
    if (ec) {
      // e.g. EMFILE: back off briefly instead of spinning on the error.
      asio::steady_timer backoff(state->executor, std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (state->active >= state->options.max_connections) {
      drop(socket);  // over the cap: refuse now rather than let the backlog fill
      continue;
    }
    ++state->active;
    asio::co_spawn(state->executor, session(state, std::move(socket)), asio::detached);
  }
}

api::Error start_error(const std::string& address, const char* step, const error_code& ec) {
  api::Error e;
  e.kind = api::ErrorKind::config;
  e.message = "HTTP server on \"" + address + "\": " + step + ": " + ec.message();
  return e;
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
  state_->stopped = false;
  asio::co_spawn(state_->executor, accept_loop(state_), asio::detached);
  return {};
}

tcp::endpoint Server::local_endpoint() const { return state_->bound; }

std::size_t Server::connections() const { return state_->active; }

void Server::stop() {
  auto& s = *state_;
  s.stopped = true;
  error_code ignored;
  if (s.acceptor) s.acceptor->close(ignored);
  // Copy: closing completes the sessions' pending reads, and they erase themselves.
  const std::vector<beast::tcp_stream*> live(s.live.begin(), s.live.end());
  for (auto* stream : live) {
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
  }
}

}  // namespace kle::http
