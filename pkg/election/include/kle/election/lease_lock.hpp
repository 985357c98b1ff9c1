#pragma once
// The lock the elector contends for. The election logic sees only this interface (and a
// clock), never HTTP: the real one wraps kube::Client, the tests script a fake. Every call
// returns errors as values and is made on the elector's thread (kle/election/elector.hpp).
#include <exception>
#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <kle/api/lease.hpp>
#include <kle/api/result.hpp>
#include <kle/election/lease_event.hpp>

namespace kle::election {

class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // The Lease as stored now; api::ErrorKind::not_found when there is none (the elector creates it).
  virtual boost::asio::awaitable<api::Result<api::Lease>> get() = 0;
  // Creates it; conflict when it already exists (someone was first: the elector re-reads).
  virtual boost::asio::awaitable<api::Result<api::Lease>> create(api::Lease lease) = 0;
  // Conditional on lease.resource_version; a stale one is api::ErrorKind::conflict.
  virtual boost::asio::awaitable<api::Result<api::Lease>> update(api::Lease lease) = 0;
  // Streams changes from resource_version ("" = current state first, as ADDED) until the
  // stream ends or fails (gone => re-list). The elector cancels it on stop() through the
  // coroutine's cancellation slot (terminal); it does not wait for it to return.
  virtual boost::asio::awaitable<api::Result<void>> watch(std::string resource_version,
                                                          std::function<void(const LeaseEvent&)> on_event) = 0;
  // The watch as callbacks: what the Elector calls. It starts the stream and returns; on_event
  // is called as watch() would call it, then on_end exactly once, with how the stream ended as
  // watch() would return it (ErrorKind::cancelled when cancelled through `slot`, terminal), or
  // with an exception when the watch threw. on_end is never called from inside this call nor
  // from inside the slot's emit(): it is posted or comes from the stream.
  // The default runs watch() in a coroutine on `ex`. A lock that can keep an open stream without
  // a coroutine overrides it (the shared watch hub's: in a process of a thousand Leases every
  // idle Elector held a watch coroutine and its frames, about 2 KiB each, issue 14).
  using WatchEnd = std::function<void(std::exception_ptr, api::Result<void>)>;
  virtual void start_watch(const boost::asio::any_io_executor& ex, std::string resource_version,
                           std::function<void(const LeaseEvent&)> on_event, WatchEnd on_end,
                           boost::asio::cancellation_slot slot);
  // Called by a follower when the holder seems to have stopped renewing (its watch went
  // quiet), well before the lease can expire: prepares what the takeover write will need
  // (the real lock opens its connection now) without making a request. Best effort: it
  // reports nothing, and a lock with nothing to prepare keeps this default.
  virtual boost::asio::awaitable<void> warm() { co_return; }
  // What is contended; the elector takes these over its options' names.
  [[nodiscard]] virtual std::string lease_namespace() const = 0;
  [[nodiscard]] virtual std::string lease_name() const = 0;
};

}  // namespace kle::election
