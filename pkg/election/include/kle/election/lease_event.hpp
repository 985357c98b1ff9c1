#pragma once
// One event of a Lease watch. Defined once, here, on the side that consumes it: the
// elector's LeaseLock interface. kube::Client streams exactly this type (kube::LeaseWatchEvent
// is an alias), so no adapter has to keep two enums in step.
#include <memory>
#include <utility>

#include <kle/api/lease.hpp>

namespace kle::election {

struct LeaseEvent {
  enum class Type { added, modified, deleted, bookmark };
  LeaseEvent() = default;
  LeaseEvent(Type t, api::Lease l) : type(t), lease(std::make_shared<const api::Lease>(std::move(l))) {}
  LeaseEvent(Type t, std::shared_ptr<const api::Lease> l) : type(t), lease(std::move(l)) {}

  Type type = Type::modified;
  // Never null in an event a lock delivers; for bookmark only resource_version is meaningful.
  // Shared and never changed: the shared watch's cache, the event it fans out and each
  // elector's last observation are one object, not a copy each, which a process of a
  // thousand Leases would hold twice per Lease (issue 14).
  std::shared_ptr<const api::Lease> lease;
};

}  // namespace kle::election
