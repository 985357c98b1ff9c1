#pragma once
// What the elector reports for metrics, in the spirit of client-go's MetricsProvider: a
// small interface with a no-op default, so election never depends on Prometheus.
// Called on the elector's executor; implementations must not block.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include <kle/api/error.hpp>

namespace kle::election {

class ElectorObserver {
 public:
  virtual ~ElectorObserver() = default;
  // This process became (true) or stopped being (false) the leader.
  virtual void on_leadership(bool /*leader*/) {}
  // A renewal attempt by the leader (the acquire that wins counts as one too).
  virtual void on_renewal(bool /*ok*/, std::chrono::steady_clock::duration /*latency*/) {}
  // leaseTransitions as last observed on the Lease.
  virtual void on_observed_transitions(std::int64_t /*transitions*/) {}
};

// Told about every finished API request, for metrics (requests by verb and status code).
// status is the HTTP status, or 0 when no response arrived (timeout, transport error).
// Defined once, here: kube::Client takes it (kube::RequestObserver) and metrics::Registry
// makes one, and both already depend on election, never on each other.
using RequestObserver =
    std::function<void(std::string_view verb, int status, std::chrono::steady_clock::duration took)>;

}  // namespace kle::election
