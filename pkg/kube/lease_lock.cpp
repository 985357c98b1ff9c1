#include "kube/lease_lock.hpp"

#include <utility>

namespace kle::kube {
namespace {

election::LeaseEvent::Type to_lock_event(LeaseWatchEvent::Type t) {
  switch (t) {
    case LeaseWatchEvent::Type::added: return election::LeaseEvent::Type::added;
    case LeaseWatchEvent::Type::modified: return election::LeaseEvent::Type::modified;
    case LeaseWatchEvent::Type::deleted: return election::LeaseEvent::Type::deleted;
    case LeaseWatchEvent::Type::bookmark: return election::LeaseEvent::Type::bookmark;
  }
  return election::LeaseEvent::Type::modified;  // unreachable: the switch is exhaustive
}

}  // namespace

KubeLeaseLock::KubeLeaseLock(Client& client, std::string lease_namespace, std::string lease_name)
    : client_(client), namespace_(std::move(lease_namespace)), name_(std::move(lease_name)) {}

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
  return client_.watch_lease(namespace_, name_, std::move(resource_version),
                             [cb = std::move(on_event)](const LeaseWatchEvent& ev) {
                               cb(election::LeaseEvent{to_lock_event(ev.type), ev.lease});
                             });
}

}  // namespace kle::kube
