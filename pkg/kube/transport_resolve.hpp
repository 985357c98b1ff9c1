#pragma once
// Name resolution bounded by a request's deadline. Boost 1.81's resolver ignores
// per-operation cancellation, so racing it with `||` waits for a stalled lookup anyway, and
// resolver::cancel() cannot stop a getaddrinfo already running on Asio's private thread.
// So the lookup is never awaited directly: the request waits on a timer that either the
// lookup's completion or the deadline ends, and a lookup that finishes later lands in state
// nobody reads any more.
#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <kle/api/result.hpp>
#include <kle/kube/transport.hpp>

namespace kle::kube {

// `resolve` empty: Asio's resolver. Fails with ErrorKind::timeout at the deadline and with
// ErrorKind::transport when the lookup fails.
boost::asio::awaitable<api::Result<std::vector<boost::asio::ip::tcp::endpoint>>> resolve_until(
    boost::asio::any_io_executor ex, const Resolve& resolve, std::string host, std::string port,
    std::chrono::steady_clock::time_point deadline);

}  // namespace kle::kube
