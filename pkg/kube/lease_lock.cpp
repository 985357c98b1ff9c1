#include <kle/kube/lease_lock.hpp>

#include <stdexcept>
#include <utility>

namespace kle::kube {

KubeLeaseLock::KubeLeaseLock(Client& client, std::string lease_namespace, std::string lease_name)
    : client_(client), namespace_(std::move(lease_namespace)), name_(std::move(lease_name)) {}

KubeLeaseLock::KubeLeaseLock(Client& client, std::string lease_namespace, std::string lease_name,
                             std::shared_ptr<LeaseWatchHub> hub)
    : KubeLeaseLock(client, std::move(lease_namespace), std::move(lease_name)) {
  if (!hub) throw std::invalid_argument("KubeLeaseLock: the shared watch hub is null");
  if (hub->lease_namespace() != namespace_)
    throw std::invalid_argument("KubeLeaseLock: lease namespace \"" + namespace_ + "\" but the hub watches \"" +
                                hub->lease_namespace() + "\"");
  hub_ = std::move(hub);
}

boost::asio::awaitable<api::Result<api::Lease>> KubeLeaseLock::get() {
  return client_.get_lease(namespace_, name_);
}

boost::asio::awaitable<api::Result<api::Lease>> KubeLeaseLock::create(api::Lease lease) {
  lease.namespace_ = namespace_;
  lease.name = name_;
  return client_.create_lease(std::move(lease));
}

boost::asio::awaitable<api::Result<api::Lease>> KubeLeaseLock::update(api::Lease lease) {
  lease.namespace_ = namespace_;
  lease.name = name_;
  return client_.update_lease(std::move(lease));
}

boost::asio::awaitable<api::Result<void>> KubeLeaseLock::watch(
    std::string resource_version, std::function<void(const election::LeaseEvent&)> on_event) {
  // Not a coroutine: the callback is moved into the client's coroutine frame, which owns it.
  // The client streams election::LeaseEvent itself, so events pass through unconverted.
  if (hub_) return hub_->watch(name_, std::move(resource_version), std::move(on_event));
  return client_.watch_lease(namespace_, name_, std::move(resource_version), std::move(on_event));
}

void KubeLeaseLock::start_watch(const boost::asio::any_io_executor& ex, std::string resource_version,
                                std::function<void(const election::LeaseEvent&)> on_event, WatchEnd on_end,
                                boost::asio::cancellation_slot slot) {
  if (!hub_) {
    return LeaseLock::start_watch(ex, std::move(resource_version), std::move(on_event), std::move(on_end),
                                  slot);
  }
  hub_->start_watch(name_, std::move(resource_version), std::move(on_event), std::move(on_end), slot);
}

boost::asio::awaitable<void> KubeLeaseLock::warm() {
  (void)co_await client_.warm();
}

}  // namespace kle::kube
