#include <kle/election/health.hpp>

namespace kle::election {

HealthStatus leader_health(bool is_leader, std::optional<Clock::time_point> last_renewal, Clock::time_point now,
                           std::chrono::milliseconds lease_duration, std::chrono::milliseconds tolerance) {
  if (!is_leader) return {};
  const auto limit = lease_duration + tolerance;
  if (!last_renewal) return {};  // standalone: there is no lease to renew
  const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(now - *last_renewal);
  if (since > limit) {
    return {false, "leader has not renewed for " + std::to_string(since.count()) + "ms (limit " +
                       std::to_string(limit.count()) + "ms = lease duration + tolerance)"};
  }
  return {};
}

}  // namespace kle::election
