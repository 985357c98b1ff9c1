#pragma once
// The elector's settings: the seed's options (auto_close, identity, lease_name, log,
// namespace, renew_interval_ms, lease_duration_sec, wait_for_leadership) plus client-go's
// explicit renew deadline, follower poll and jitter. validate() runs before anything starts.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <kle/api/result.hpp>
#include <kle/election/observer.hpp>
#include <kle/log/logger.hpp>

namespace kle::election {

inline constexpr const char* kDefaultLeaseName = "kube-leader-elector";
// The longest lease the API can state: leaseDurationSeconds is an int32.
inline constexpr std::chrono::seconds kMaxLeaseDuration{2'147'483'647};

struct ElectorOptions {
  bool auto_close = true;                 // stop (and release) on SIGINT/SIGTERM
  std::string identity;                   // empty: elector-{hostname}-{pid}
  std::string lease_name = kDefaultLeaseName;
  std::string namespace_;                 // empty: service-account namespace in a pod, else "default"
  std::optional<log::Logger> log;         // empty: a logger that discards everything
  std::chrono::milliseconds renew_interval{10000};       // how often the leader renews (client-go RetryPeriod)
  // Written as leaseDurationSeconds (an int32): whole seconds, 1s..kMaxLeaseDuration; a value
  // the Lease cannot state exactly is refused, never rounded. Default 2 x renew_interval,
  // rounded up to whole seconds.
  std::optional<std::chrono::milliseconds> lease_duration;
  std::optional<std::chrono::milliseconds> renew_deadline; // default 2/3 of lease_duration
  // Followers watch the Lease; this is how often they GET it while the watch is down (with
  // jitter). Default renew_interval. (The controller's --retry-period, client-go's name, sets
  // both renew_interval and follower_poll.)
  std::optional<std::chrono::milliseconds> follower_poll;
  double jitter = 1.2;                    // client-go JitterFactor: waits are d + rand[0,1) x jitter x d
  bool wait_for_leadership = false;       // start() completes only once a leader is known
  bool release_on_stop = true;            // stop() clears the holder (ReleaseOnCancel)
  std::shared_ptr<ElectorObserver> observer;  // metrics hooks; null: none
  // Handover (docs/HANDOVER.md). Each is 0 to lease_duration (checked by resolve_timings).
  // revision: this replica's revision (the controller passes its pod-template-hash); empty:
  // unknown, never held back as older.
  std::string revision;
  // A free or expired lease whose record names another preferred holder
  // (kube-leader-elector.io/preferred-holder) is taken only this long after it became free
  // by our clock: the named pod takes it in one round trip meanwhile. Default 2 s.
  std::chrono::milliseconds handover_grace{2000};
  // Extra hold-back when the record's kube-leader-elector.io/newest-revision is not ours
  // (only with a non-empty revision). Default 2 s.
  std::chrono::milliseconds older_grace{2000};
  // hand_over() steps down at once and releases only this much later, so routing can drop
  // this pod while nobody else can lead yet. Default 0 (the controller sets --drain).
  std::chrono::milliseconds handover_drain{0};
};

// Options with every default filled in and every rule checked.
struct ResolvedTimings {
  std::chrono::milliseconds lease_duration;
  std::chrono::milliseconds renew_deadline;
  std::chrono::milliseconds renew_interval;  // how often the leader renews
  std::chrono::milliseconds follower_poll;  // poll fallback while the watch is down
  double jitter;
};

// Fills defaults and enforces lease_duration > renew_deadline > jitter x renew_interval
// (jitter >= 1; lease_duration whole seconds in [1s, kMaxLeaseDuration], so the Lease states
// exactly what this process keeps in memory), and that every jittered wait fits a
// steady_clock timer. The error (kind config) says which rule failed with the numbers involved.
api::Result<ResolvedTimings> resolve_timings(const ElectorOptions& options);
// A non-empty identity, a DNS-1123 subdomain lease name and a DNS-1123 label namespace.
// Run it on with_defaults(options): empty identity/namespace are errors here.
api::Result<void> validate_names(const ElectorOptions& options);
bool is_dns1123_subdomain(std::string_view name);
bool is_dns1123_label(std::string_view name);
std::string default_identity();  // elector-{hostname}-{pid}
// The service-account namespace when the file exists and is not empty, else "default".
std::string default_namespace(
    const std::string& service_account_namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace");
// Fills an empty identity (default_identity()) and namespace (default_namespace()).
ElectorOptions with_defaults(ElectorOptions options);

}  // namespace kle::election
