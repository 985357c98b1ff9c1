#include "transport_resolve.hpp"

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kle::kube {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// One lookup, shared by the request waiting on it and the resolver completing it, which may
// complete after the request gave up (or never).
struct PendingResolve {
  PendingResolve(const net::any_io_executor& ex, std::chrono::steady_clock::time_point deadline)
      : resolver(ex), wake(ex, deadline) {}
  tcp::resolver resolver;
  net::steady_timer wake;  // expires at the deadline; the lookup's completion cancels it
  std::optional<std::pair<error_code, std::vector<tcp::endpoint>>> result;
};

}  // namespace

net::awaitable<api::Result<std::vector<tcp::endpoint>>> resolve_until(net::any_io_executor ex, const Resolve& resolve,
                                                                      std::string host, std::string port,
                                                                      std::chrono::steady_clock::time_point deadline) {
  auto pending = std::make_shared<PendingResolve>(ex, deadline);
  ResolveDone done = [pending](error_code ec, std::vector<tcp::endpoint> endpoints) {
    pending->result.emplace(ec, std::move(endpoints));
    pending->wake.cancel();
  };
  if (resolve) {
    resolve(host, port, std::move(done));
  } else {
    auto finished = [done = std::move(done)](error_code ec, const tcp::resolver::results_type& results) {
      std::vector<tcp::endpoint> endpoints;
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
      done(ec, std::move(endpoints));
    };
    pending->resolver.async_resolve(host, port, std::move(finished));
  }
  if (!pending->result) {
    error_code ignored;
    co_await pending->wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  if (!pending->result) {
    pending->resolver.cancel();  // frees the resolver's queue if this lookup has not started yet
    co_return api::local_error(api::ErrorKind::timeout, "resolving " + host + ": deadline passed");
  }
  auto& [ec, endpoints] = *pending->result;
  if (ec) co_return api::local_error(api::ErrorKind::transport, "resolving " + host + ": " + ec.message());
  co_return std::move(endpoints);
}

}  // namespace kle::kube
