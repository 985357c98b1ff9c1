#pragma once
// The controller's metrics (names fixed by docs/CONTRACT.md). Every series except build_info
// carries lease/namespace labels fixed at construction, so callers never pass them.
// Backed by prometheus-cpp's thread-safe counters/gauges; serialize() renders text format
// 0.0.4 for our own /metrics handler.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <kle/election/observer.hpp>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace kle::metrics {

// The version reported by leader_election_build_info (the CMake project version).
const char* build_version() noexcept;

struct RegistryOptions {
  std::string lease;
  std::string ns;
  std::string version = build_version();
  // Wall clock for last_renewal_timestamp on a successful renewal; injectable for tests.
  std::function<std::chrono::system_clock::time_point()> wall_now = [] {
    return std::chrono::system_clock::now();
  };
};

// The one request-observer type (election/observer.hpp), which kube::Client also takes.
using RequestObserverFn = election::RequestObserver;

class Registry final : public election::ElectorObserver {
 public:
  explicit Registry(RegistryOptions options);
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // ElectorObserver. on_leadership counts a transition only when the state changes, so a
  // repeated "not leader" at start-up is not a transition.
  void on_leadership(bool leader) override;
  // Observes the latency of every attempt; ok ones also bump renewals_total and the
  // last-renewal timestamp (from wall_now), failed ones bump renewal_failures_total.
  void on_renewal(bool ok, std::chrono::steady_clock::duration latency) override;
  void on_observed_transitions(std::int64_t transitions) override;

  // action is "set" or "clear" (both series exist from the start at 0).
  void label_action(std::string_view action);
  void label_failure();
  // verb GET|PUT|POST|PATCH|DELETE|WATCH; code is the HTTP status, 0 when no response.
  void api_request(std::string_view verb, int code);
  // An observer to hand to kube::Client::set_observer. Holds a pointer: the Registry must
  // outlive the client.
  [[nodiscard]] RequestObserverFn request_observer();
  // The leader's cluster-level label check, from its label rounds: how many pods carry the
  // leader label and whether the holder's pod is one (leader_election_labelled_pods,
  // leader_election_label_matches_holder). The series exist only while this process leads
  // (from its first round on); losing leadership removes them, so only the leader reports.
  void label_census(std::size_t labelled, bool holder_labelled);
  // Overrides the timestamp, e.g. with the renewTime actually written to the Lease.
  void set_last_renewal(std::chrono::system_clock::time_point wall);

  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string serialize() const;
  [[nodiscard]] static const char* content_type() noexcept {
    return "text/plain; version=0.0.4; charset=utf-8";
  }

 private:
  RegistryOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* is_leader_ = nullptr;
  prometheus::Counter* transitions_ = nullptr;
  prometheus::Counter* renewals_ = nullptr;
  prometheus::Counter* renewal_failures_ = nullptr;
  prometheus::Histogram* renewal_duration_ = nullptr;
  prometheus::Gauge* last_renewal_ = nullptr;
  prometheus::Gauge* observed_transitions_ = nullptr;
  prometheus::Family<prometheus::Counter>* label_actions_ = nullptr;
  prometheus::Counter* label_failures_ = nullptr;
  prometheus::Family<prometheus::Counter>* api_requests_ = nullptr;
  prometheus::Family<prometheus::Gauge>* labelled_pods_ = nullptr;
  prometheus::Family<prometheus::Gauge>* label_matches_holder_ = nullptr;
  bool leader_ = false;
};

}  // namespace kle::metrics
