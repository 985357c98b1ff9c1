#pragma once
// One event of a Lease watch. Defined once, here, on the side that consumes it: the
// elector's LeaseLock interface. kube::Client streams exactly this type (kube::LeaseWatchEvent
// is an alias), so no adapter has to keep two enums in step.
#include <kle/api/lease.hpp>

namespace kle::election {

struct LeaseEvent {
  enum class Type { added, modified, deleted, bookmark };
  Type type = Type::modified;
  api::Lease lease;  // for bookmark only resource_version is meaningful
};

}  // namespace kle::election
