#pragma once
// The controller's command line. Every flag can also come from LEADER_ELECTOR_<FLAG> in
// the environment (flags win); identity and namespace fall back to the downward API's
// POD_NAME / POD_NAMESPACE. Parsing never exits: it returns what to do, so it is testable.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <kle/election/options.hpp>
#include <kle/labeler/plan.hpp>
#include <kle/labeler/selector.hpp>
#include <kle/log/logger.hpp>

namespace kle::controller {

struct ControllerOptions {
  std::string lease_name = election::kDefaultLeaseName;
  std::string lease_namespace;  // empty: POD_NAMESPACE, kubeconfig context, SA file, "default"
  std::string identity;         // empty: POD_NAME, else elector-{hostname}-{pid}
  std::string pod_name;         // the pod to label: POD_NAME; empty disables labelling
  std::string kubeconfig;
  std::string context;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  // --retry-period, client-go's RetryPeriod: sets the elector's renew_interval and follower_poll.
  std::chrono::milliseconds retry_period{2000};
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds reconcile_interval{30000};
  std::chrono::milliseconds workload_grace{10000};
  labeler::LeaderLabel leader_label;
  labeler::PodSelector pod_selector;  // this release's pods; empty: every pod in the namespace
  bool label_pods = true;
  bool readiness_follows_leadership = false;
  bool release_on_stop = true;
  std::string http_address = "0.0.0.0:8080";
  log::Level log_level = log::Level::info;
  log::Logger::Format log_format = log::Logger::Format::json;
  std::vector<std::string> command;  // after "--": run only while leader
  // Handover (docs/HANDOVER.md). --handover newest: a stopping leader names the newest Ready
  // revision's pod as its successor, and followers of an older revision hold back; off: the
  // release names nobody (an operator's preferred-holder annotation is still honoured).
  bool handover_newest = true;
  std::string revision;  // --revision: this pod's pod-template-hash (the chart sets it)
  std::chrono::milliseconds handover_grace{2000};  // --handover-grace: followers' hold-back
  // --drain. On stop: a leader unlabels itself and releases while still leading, then keeps
  // answering (truthfully, as a follower) this long, so requests kube-proxy still routes to
  // it get an answer rather than a refused connection. On a planned handover (the Lease
  // annotation): it steps down and unlabels, and waits this long before releasing.
  std::chrono::milliseconds drain{1000};
};

// The most each duration flag accepts (stated in --help). Far above any sane setting, far
// below anything that could overflow a timer or the Lease's int32 leaseDurationSeconds.
inline constexpr std::chrono::milliseconds kMaxElectionTiming = std::chrono::hours(1);  // lease, deadline, retry, request
inline constexpr std::chrono::milliseconds kMaxReconcileInterval = std::chrono::hours(24);
inline constexpr std::chrono::milliseconds kMaxWorkloadGrace = std::chrono::hours(1);

enum class ParseOutcome { run, help, version, error };

struct ParseResult {
  ParseOutcome outcome = ParseOutcome::error;
  ControllerOptions options;
  std::string text;  // help text, or the one-line error
};

using GetEnv = std::function<const char*(const char*)>;

// Every flag is checked here, before any config discovery: durations and their bounds,
// the election timings (election::resolve_timings), names (election::validate_names), the
// leader label, the HTTP address. An error is one line naming the flag.
ParseResult parse_options(int argc, const char* const* argv, const GetEnv& getenv);

// The elector's settings as the flags give them: names, timings (the lease duration exactly,
// never rounded) and release_on_stop. An empty namespace_ or identity is left for the caller
// to fill after discovery; log and observer are the caller's too.
election::ElectorOptions to_elector_options(const ControllerOptions& options);

}  // namespace kle::controller
