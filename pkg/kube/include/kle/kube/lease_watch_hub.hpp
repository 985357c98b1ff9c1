#pragma once
// One watch for many Leases: a list + watch of every Lease in one namespace, fanned out by
// name to each KubeLeaseLock's watch(). N Electors on N Leases in one io_context then hold
// one watch stream on the apiserver instead of N (issue #14).
//
//   auto hub = kube::LeaseWatchHub::create(client, "shards");
//   auto lock = std::make_unique<kube::KubeLeaseLock>(client, "shards", "shard-7", hub);
//
// Each subscriber sees what its own watch on one Lease would have shown: from "" the cached
// Lease first, as ADDED; from a resourceVersion whatever changed after it (the cached Lease
// as MODIFIED, or DELETED); then every event of its Lease, and every bookmark. The hub
// re-lists on 410 Gone and resumes after the server's routine timeout without ending any
// subscriber. A failed list or stream ends every subscriber's watch() with that error, so
// each Elector falls back to polling as it would with its own watch, and for a backoff
// (doubling up to max_backoff) a new subscriber is refused at once: no request is made.
// Cancelling one subscriber (Elector::stop) ends only that one. When the last subscriber
// leaves, the stream is cancelled and the cache dropped (it would go stale unwatched).
//
// RBAC: list and watch on leases in the namespace (resourceNames cannot narrow a list).
// Threading and lifetime: one thread, like the Elector and the Client. Create and use it on
// the io_context's thread. The stream's coroutine keeps the hub alive while it runs, and it
// runs only while someone is subscribed; the Client must outlive it (keep the Client until
// the io_context has run out of work, as for an Elector).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <kle/election/lease_event.hpp>
#include <kle/election/lease_lock.hpp>
#include <kle/kube/client.hpp>
#include <kle/log/logger.hpp>

namespace kle::kube {

// Where the hub's list and stream come from: the Client in production, a script in tests.
struct LeaseWatchSource {
  std::function<boost::asio::awaitable<Result<LeaseList>>()> list;
  std::function<boost::asio::awaitable<Result<void>>(std::string resource_version,
                                                     std::function<void(const LeaseWatchEvent&)> on_event)>
      watch;
};

struct LeaseWatchHubOptions {
  std::chrono::milliseconds min_backoff{1000};   // after the first failure
  std::chrono::milliseconds max_backoff{30000};  // doubling stops here
  // A stream the server ends sooner than this is a failure, not its timeout: without it a
  // server that closes every watch at once would be re-watched in a tight loop.
  std::chrono::milliseconds min_stream{1000};
  std::optional<log::Logger> log;
};

class LeaseWatchHub {
 public:
  // The Leases of `ns` through `client` (Client::list_leases and watch_leases).
  static std::shared_ptr<LeaseWatchHub> create(Client& client, std::string ns, LeaseWatchHubOptions options = {});
  static std::shared_ptr<LeaseWatchHub> create(boost::asio::any_io_executor ex, std::string ns,
                                               LeaseWatchSource source, LeaseWatchHubOptions options = {});
  ~LeaseWatchHub();
  LeaseWatchHub(const LeaseWatchHub&) = delete;
  LeaseWatchHub& operator=(const LeaseWatchHub&) = delete;

  // election::LeaseLock::watch for the Lease `name` of this namespace: returns when the
  // hub's stream fails (that error), or when cancelled through the caller's slot
  // (ErrorKind::cancelled); invalid for an empty name.
  boost::asio::awaitable<Result<void>> watch(std::string name, std::string resource_version,
                                             std::function<void(const LeaseWatchEvent&)> on_event);
  // election::LeaseLock::start_watch for the Lease `name`: the same subscription as watch(),
  // with no coroutine held while it is open; on_end is always posted (never called inside this
  // call or the slot's emit), and its exception is always null.
  void start_watch(std::string name, std::string resource_version,
                   std::function<void(const LeaseWatchEvent&)> on_event, election::LeaseLock::WatchEnd on_end,
                   boost::asio::cancellation_slot slot);

  [[nodiscard]] const std::string& lease_namespace() const noexcept;
  // For tests and the bench: subscribers now, and requests made so far.
  [[nodiscard]] std::size_t subscribers() const noexcept;
  [[nodiscard]] std::uint64_t lists_made() const noexcept;
  [[nodiscard]] std::uint64_t streams_opened() const noexcept;

 private:
  struct Impl;  // shared with the stream's coroutine, which may outlive this handle briefly
  explicit LeaseWatchHub(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace kle::kube
