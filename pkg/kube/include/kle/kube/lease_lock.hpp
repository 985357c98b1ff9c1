#pragma once
// The real election::LeaseLock: one Lease (namespace/name) through kube::Client. A thin
// adapter: the elector decides, this only carries out the calls; watch events pass through as they are.
#include <functional>
#include <memory>
#include <string>

#include <kle/election/lease_lock.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/lease_watch_hub.hpp>

namespace kle::kube {

class KubeLeaseLock final : public election::LeaseLock {
 public:
  // `client` must outlive the lock.
  KubeLeaseLock(Client& client, std::string lease_namespace, std::string lease_name);
  // Many Leases in one process: watch() subscribes to `hub` (one watch of the namespace for
  // all its locks) instead of opening a watch of its own; get/create/update are unchanged.
  // Throws std::invalid_argument (start-up) when the hub watches another namespace or is null.
  KubeLeaseLock(Client& client, std::string lease_namespace, std::string lease_name,
                std::shared_ptr<LeaseWatchHub> hub);

  // Each call is one Client call (get_lease, create_lease, update_lease, watch_lease) with its
  // deadline and its errors, unchanged.
  boost::asio::awaitable<api::Result<api::Lease>> get() override;
  // The lease's name and namespace are set to this lock's, whatever the caller filled in.
  boost::asio::awaitable<api::Result<api::Lease>> create(api::Lease lease) override;
  boost::asio::awaitable<api::Result<api::Lease>> update(api::Lease lease) override;
  // With a hub, watch() makes no request of its own: it subscribes (see LeaseWatchHub).
  boost::asio::awaitable<api::Result<void>> watch(std::string resource_version,
                                                  std::function<void(const election::LeaseEvent&)> on_event) override;
  // With a hub, the subscription holds no coroutine (LeaseWatchHub::start_watch); without
  // one, the default: watch() in a coroutine.
  void start_watch(const boost::asio::any_io_executor& ex, std::string resource_version,
                   std::function<void(const election::LeaseEvent&)> on_event, WatchEnd on_end,
                   boost::asio::cancellation_slot slot) override;
  // Client::warm: one TLS connection into the client's pool, no request. A failure is
  // dropped: the takeover write then connects as it would have anyway.
  boost::asio::awaitable<void> warm() override;
  [[nodiscard]] std::string lease_namespace() const override { return namespace_; }
  [[nodiscard]] std::string lease_name() const override { return name_; }

 private:
  Client& client_;
  std::string namespace_;
  std::string name_;
  std::shared_ptr<LeaseWatchHub> hub_;  // null: a watch of its own
};

}  // namespace kle::kube
