#include <kle/metrics/registry.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <utility>

namespace kle::metrics {
namespace {

// The contract's buckets: renewals are a single PUT, normally milliseconds; the top
// buckets catch a slow apiserver near the renew deadline (10s by default).
const prometheus::Histogram::BucketBoundaries& renewal_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

template <class Builder>
auto& family(Builder builder, const char* name, const char* help, const prometheus::Labels& labels,
             prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Labels(labels).Register(registry);
}

}  // namespace

const char* build_version() noexcept { return KLE_VERSION; }

Registry::Registry(RegistryOptions options)
    : options_(std::move(options)), registry_(std::make_shared<prometheus::Registry>()) {
  const prometheus::Labels scope{{"lease", options_.lease}, {"namespace", options_.ns}};
  auto& r = *registry_;
  is_leader_ = &family(prometheus::BuildGauge(), "leader_election_is_leader",
                       "1 while this process holds the lease, else 0.", scope, r).Add({});
  transitions_ = &family(prometheus::BuildCounter(), "leader_election_leadership_transitions_total",
                         "Times this process gained or lost leadership.", scope, r).Add({});
  renewals_ = &family(prometheus::BuildCounter(), "leader_election_renewals_total",
                      "Successful renewals, including the acquire that won.", scope, r).Add({});
  renewal_failures_ = &family(prometheus::BuildCounter(), "leader_election_renewal_failures_total",
                              "Failed renewal attempts.", scope, r).Add({});
  renewal_duration_ = &family(prometheus::BuildHistogram(), "leader_election_renewal_duration_seconds",
                              "Latency of renewal attempts, successful or not.", scope, r)
                           .Add({}, renewal_buckets());
  last_renewal_ = &family(prometheus::BuildGauge(), "leader_election_last_renewal_timestamp_seconds",
                          "Unix time of the last successful renewal.", scope, r).Add({});
  observed_transitions_ = &family(prometheus::BuildGauge(), "leader_election_observed_lease_transitions",
                                  "spec.leaseTransitions as last seen on the Lease.", scope, r).Add({});
  label_actions_ = &family(prometheus::BuildCounter(), "leader_election_label_reconcile_actions_total",
                           "Pod label changes made by the reconciler, by action.", scope, r);
  // Both actions exist from the start so rate() and absent() behave before the first change.
  label_actions_->Add({{"action", "set"}});
  label_actions_->Add({{"action", "clear"}});
  label_failures_ = &family(prometheus::BuildCounter(), "leader_election_label_reconcile_failures_total",
                            "Pod label reconciliations that failed.", scope, r).Add({});
  api_requests_ = &family(prometheus::BuildCounter(), "leader_election_api_requests_total",
                          "Kubernetes API requests by verb and HTTP code (0: no response).", scope, r);
  // No series until the first leader round reports (label_census): a follower has no count.
  labelled_pods_ = &family(prometheus::BuildGauge(), "leader_election_labelled_pods",
                           "Leader only: pods carrying the leader label after its last label round.", scope, r);
  label_matches_holder_ = &family(prometheus::BuildGauge(), "leader_election_label_matches_holder",
                                  "Leader only: 1 when the lease holder's pod carries the leader label.", scope, r);
  family(prometheus::BuildGauge(), "leader_election_build_info",
         "Always 1; the version label identifies the build.", {{"version", options_.version}}, r)
      .Add({})
      .Set(1);
}

Registry::~Registry() = default;

void Registry::on_leadership(bool leader) {
  if (leader != leader_) {
    leader_ = leader;
    transitions_->Increment();
  }
  is_leader_->Set(leader ? 1 : 0);
  if (!leader) {
    // Family::Add with no labels returns the one existing series (or makes one to remove).
    labelled_pods_->Remove(&labelled_pods_->Add({}));
    label_matches_holder_->Remove(&label_matches_holder_->Add({}));
  }
}

void Registry::label_census(std::size_t labelled, bool holder_labelled) {
  labelled_pods_->Add({}).Set(static_cast<double>(labelled));
  label_matches_holder_->Add({}).Set(holder_labelled ? 1 : 0);
}

void Registry::on_renewal(bool ok, std::chrono::steady_clock::duration latency) {
  renewal_duration_->Observe(std::chrono::duration<double>(latency).count());
  if (ok) {
    renewals_->Increment();
    last_renewal_->Set(unix_seconds(options_.wall_now()));
  } else {
    renewal_failures_->Increment();
  }
}

void Registry::on_observed_transitions(std::int64_t transitions) {
  observed_transitions_->Set(static_cast<double>(transitions));
}

void Registry::label_action(std::string_view action) {
  // Family::Add returns the existing series for known labels, so this does not grow.
  label_actions_->Add({{"action", std::string(action)}}).Increment();
}

void Registry::label_failure() { label_failures_->Increment(); }

void Registry::api_request(std::string_view verb, int code) {
  api_requests_->Add({{"verb", std::string(verb)}, {"code", std::to_string(code)}}).Increment();
}

RequestObserverFn Registry::request_observer() {
  return [this](std::string_view verb, int status, std::chrono::steady_clock::duration) {
    api_request(verb, status);
  };
}

void Registry::set_last_renewal(std::chrono::system_clock::time_point wall) {
  last_renewal_->Set(unix_seconds(wall));
}

std::string Registry::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace kle::metrics
