#pragma once
// The leader's health check (client-go's HealthzAdaptor): a process that believes it leads
// but has not renewed within the lease duration plus a tolerance is wedged: followers may
// already have taken over, so /healthz should fail and let Kubernetes restart it.
#include <chrono>
#include <optional>
#include <string>

#include <kle/election/clock.hpp>

namespace kle::election {

struct HealthStatus {
  bool healthy = true;
  std::string reason;  // why unhealthy; empty when healthy
};

// Followers are always healthy (a hot standby is not a fault), and so is a leader with no
// last_renewal: the standalone mode, which has no lease to renew.
HealthStatus leader_health(bool is_leader, std::optional<Clock::time_point> last_renewal, Clock::time_point now,
                           std::chrono::milliseconds lease_duration, std::chrono::milliseconds tolerance);

}  // namespace kle::election
