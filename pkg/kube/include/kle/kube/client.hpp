#pragma once
// The Kubernetes API calls the elector and the controller make, as C++20 coroutines on one
// io_context. Every call has a deadline (ClientOptions::request_timeout) and returns a
// Result; nothing here throws once constructed.
// Threading: like the Elector, one thread. Every call runs on the client's executor, whose
// io_context one thread runs; the Client outlives its calls. Errors are values: a refused
// call is ErrorKind forbidden/unauthorized with the apiserver's message, a missing object
// not_found, a stale resourceVersion conflict, a deadline timeout, a torn connection
// transport, an undecodable answer bad_response (kle/api/error.hpp has them all); nothing
// is retried here (the elector decides).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <kle/kube/config.hpp>
#include <kle/api/lease.hpp>
#include <kle/api/pod.hpp>
#include <kle/api/result.hpp>
#include <kle/election/lease_event.hpp>
#include <kle/election/observer.hpp>
#include <kle/log/logger.hpp>

namespace kle::kube {

using api::Result;
using api::Lease;
using api::Pod;
using api::PodList;
using api::Error;
using api::ErrorKind;

struct ClientOptions {
  std::chrono::milliseconds request_timeout{5000};  // must stay below the renew deadline
  std::chrono::seconds watch_timeout{290};          // server-side timeoutSeconds of one watch
  std::string user_agent = "kube-leader-elector/0.1";
  // Request connections kept open at most (watches not counted); further concurrent requests
  // queue for one within their deadline (TransportOptions::max_connections).
  std::size_t max_connections = 16;
  // Where a refused bearer-token re-read is reported (the file's new content could not be a
  // header value, so the last good token keeps serving). Empty: nowhere.
  std::optional<log::Logger> log;
};

// Both defined once in election (which kube already depends on for LeaseLock): the watch
// streams the very type the elector consumes, and metrics builds the very observer type.
using RequestObserver = election::RequestObserver;
using LeaseWatchEvent = election::LeaseEvent;

class Transport;  // HTTPS with keep-alive; see transport.hpp
struct TransportStats;

// Every Lease of a namespace as of one resourceVersion: where a namespace watch resumes.
struct LeaseList {
  std::vector<Lease> items;
  std::string resource_version;
};

class Client {
 public:
  Client(boost::asio::any_io_executor ex, ClusterConfig config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Called once per finished request (verb, resource, outcome, latency): metrics hooks.
  void set_observer(RequestObserver observer);
  // Where it connects and how it authenticates (from kubeconfig or the in-cluster account).
  [[nodiscard]] const ClusterConfig& config() const noexcept;
  // The executor every call must run on (the one given to the constructor).
  [[nodiscard]] boost::asio::any_io_executor executor() const noexcept;

  // GET one Lease; not_found when it does not exist.
  boost::asio::awaitable<Result<Lease>> get_lease(std::string ns, std::string name);
  // POST: creates it; conflict (409 AlreadyExists) when someone created it first.
  boost::asio::awaitable<Result<Lease>> create_lease(Lease lease);
  // PUT with metadata.resourceVersion: a stale version is ErrorKind::conflict.
  boost::asio::awaitable<Result<Lease>> update_lease(Lease lease);
  // DELETE one Lease (tests and tools; the elector never deletes, it releases).
  boost::asio::awaitable<Result<void>> delete_lease(std::string ns, std::string name);

  // Watches one Lease (fieldSelector=metadata.name=NAME) from resource_version, calling
  // on_event for each event, until the server ends the stream (Result ok), an error
  // arrives (gone on 410: the caller re-lists), or the caller cancels.
  boost::asio::awaitable<Result<void>> watch_lease(std::string ns, std::string name,
                                                   std::string resource_version,
                                                   std::function<void(const LeaseWatchEvent&)> on_event);

  // LIST every Lease of the namespace in one page, with the list's resourceVersion.
  boost::asio::awaitable<Result<LeaseList>> list_leases(std::string ns);
  // Watches every Lease of the namespace from resource_version (a LeaseList's); otherwise as
  // watch_lease. One stream for all of them: kube::LeaseWatchHub fans it out by name.
  boost::asio::awaitable<Result<void>> watch_leases(std::string ns, std::string resource_version,
                                                    std::function<void(const LeaseWatchEvent&)> on_event);

  // GET one Pod (labels, readiness, revision, creation and deletion times).
  boost::asio::awaitable<Result<Pod>> get_pod(std::string ns, std::string name);
  // LIST the namespace's Pods matching a label selector ("" matches all), in one page.
  boost::asio::awaitable<Result<PodList>> list_pods(std::string ns, std::string label_selector);
  // JSON merge patch of metadata.labels; nullopt removes a label.
  boost::asio::awaitable<Result<Pod>> patch_pod_labels(std::string ns, std::string name,
                                                       std::map<std::string, std::optional<std::string>> labels);

  // Opens one connection into the pool without sending a request (Transport::warm), so the
  // next call skips TCP + TLS; an error only means that call connects as usual.
  boost::asio::awaitable<Result<void>> warm();

  // Closes pooled connections and cancels in-flight requests, watches included (used by
  // stop()); they end with ErrorKind::cancelled. Not permanent: later calls connect afresh,
  // so stop() can still release the lease after cancelling the watch.
  // Calling a coroutine's cancellation slot (e.g. awaitable_operators ||) also cancels it.
  // All calls must run on the client's executor, and the Client must outlive them.
  void close();

  // Connections opened, reused and queued for so far (transport.hpp), and request connections
  // open now: for benchmarks and diagnostics.
  [[nodiscard]] const TransportStats& transport_stats() const noexcept;
  [[nodiscard]] std::size_t open_connections() const noexcept;

 private:
  boost::asio::awaitable<Result<void>> watch_target(std::string target, std::string resource_version,
                                                    std::function<void(const LeaseWatchEvent&)> on_event);


  boost::asio::any_io_executor ex_;
  std::unique_ptr<Transport> transport_;
  RequestObserver observer_;
  ClusterConfig config_;
  ClientOptions options_;
};

}  // namespace kle::kube
