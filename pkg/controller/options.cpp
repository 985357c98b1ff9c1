#include <kle/controller/options.hpp>

#include <cctype>
#include <cstdio>
#include <sstream>
#include <utility>

#include <boost/program_options.hpp>

#include <kle/controller/duration.hpp>
#include <kle/http/address.hpp>

namespace po = boost::program_options;

namespace kle::controller {
namespace {

constexpr const char* kEnvPrefix = "LEADER_ELECTOR_";

struct RawFlags {
  std::string lease_duration = "15s", renew_deadline = "10s", retry_period = "2s", request_timeout = "5s",
              reconcile_interval = "30s", workload_grace = "10s", handover_grace = "2s", drain = "1s";
  std::string handover = "newest";
  std::string leader_label = "leader-elector/leader=true";
  std::string pod_selector;
  std::string log_level = "info", log_format = "json";
  bool label_pods = true, release_on_stop = true;
};

po::options_description describe(ControllerOptions& o, RawFlags& r) {
  po::options_description election("Election");
  election.add_options()
      ("lease-name", po::value(&o.lease_name)->default_value(o.lease_name), "name of the coordination.k8s.io/v1 Lease")
      ("namespace", po::value(&o.lease_namespace), "namespace of the Lease and pods (default: POD_NAMESPACE, kubeconfig context, service-account namespace, \"default\")")
      ("identity", po::value(&o.identity), "unique holder identity (default: POD_NAME, else elector-{hostname}-{pid})")
      ("lease-duration", po::value(&r.lease_duration)->default_value(r.lease_duration), "how long followers wait after the last observed change before taking over (whole seconds, 1s to 1h)")
      ("renew-deadline", po::value(&r.renew_deadline)->default_value(r.renew_deadline), "the leader steps down when it has not renewed for this long (below --lease-duration)")
      ("retry-period", po::value(&r.retry_period)->default_value(r.retry_period), "how often the leader renews and followers retry (1.2 x it below --renew-deadline)")
      ("release-on-stop", po::value(&r.release_on_stop)->default_value(true)->implicit_value(true), "release the Lease on SIGTERM/SIGINT so a follower takes over at once")
      ("handover", po::value(&r.handover)->default_value(r.handover), "newest: on stop, release naming a Ready pod of the newest revision, and followers of older revisions hold back; off: name nobody")
      ("revision", po::value(&o.revision), "this pod's revision (its pod-template-hash label; the chart sets it through the downward API)")
      ("handover-grace", po::value(&r.handover_grace)->default_value(r.handover_grace), "how long other followers hold back for a named successor, and older revisions for a newer one (0 to --lease-duration)")
      ("drain", po::value(&r.drain)->default_value(r.drain), "after a stopping leader's release, keep answering (as a follower) this long while the Service follows; on a planned handover, stay stepped down and unlabelled this long before releasing (0 to --lease-duration)");
  po::options_description labels("Pod label");
  labels.add_options()
      ("leader-label", po::value(&r.leader_label)->default_value(r.leader_label), "KEY=VALUE put on the leader's pod; select on it in a Service")
      ("pod-selector", po::value(&r.pod_selector), "KEY=VALUE[,KEY=VALUE...]: this release's pods; stale leader labels are cleared only on pods it matches (default: every pod in the namespace)")
      ("label-pods", po::value(&r.label_pods)->default_value(true)->implicit_value(true), "label the leader pod and clear stale labels (needs POD_NAME)")
      ("reconcile-interval", po::value(&r.reconcile_interval)->default_value(r.reconcile_interval), "how often the leader re-checks pod labels (at most 24h)")
      ("readiness-follows-leadership", po::value(&o.readiness_follows_leadership)->default_value(false)->implicit_value(true), "/readyz answers 200 only on the leader");
  po::options_description kube("Kubernetes API");
  kube.add_options()
      ("kubeconfig", po::value(&o.kubeconfig), "kubeconfig path (default: $KUBECONFIG, in-cluster, ~/.kube/config; none: standalone)")
      ("context", po::value(&o.context), "kubeconfig context (default: current-context)")
      ("request-timeout", po::value(&r.request_timeout)->default_value(r.request_timeout), "deadline of each API request (below --renew-deadline)");
  po::options_description serving("HTTP and logs");
  serving.add_options()
      ("http-address", po::value(&o.http_address)->default_value(o.http_address), "address for /metrics /healthz /readyz /leader")
      ("log-level", po::value(&r.log_level)->default_value(r.log_level), "debug, info, warn or error")
      ("log-format", po::value(&r.log_format)->default_value(r.log_format), "json or text");
  po::options_description workload("Workload (leader-elector [flags] -- CMD ARGS...)");
  workload.add_options()
      ("workload-grace", po::value(&r.workload_grace)->default_value(r.workload_grace), "time between SIGTERM and SIGKILL when CMD must stop (at most 1h)")
      ("help,h", "show this help")
      ("version", "print the version");
  po::options_description all;
  all.add(election).add(labels).add(kube).add(serving).add(workload);
  return all;
}

// lease-name -> LEADER_ELECTOR_LEASE_NAME. The environment is read through `getenv` (not
// environ) so tests can inject it.
po::parsed_options from_environment(const po::options_description& desc, const GetEnv& getenv) {
  po::parsed_options parsed(&desc);
  for (const auto& opt : desc.options()) {
    const std::string& flag = opt->long_name();
    if (flag == "help" || flag == "version") continue;
    std::string env = kEnvPrefix;
    for (const char c : flag) env += (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (const char* value = getenv(env.c_str())) {
      po::option o;
      o.string_key = flag;
      o.value.emplace_back(value);
      parsed.options.push_back(std::move(o));
    }
  }
  return parsed;
}

// A value echoed in an error stays on one line and short: control characters are escaped
// (an error is one line, and a newline would forge a second) and long input is cut.
std::string shown(std::string_view text, std::size_t limit = 64) {
  std::string out;
  for (const char c : text.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

bool set_duration(const char* flag, const std::string& text, std::chrono::milliseconds max,
                  std::chrono::milliseconds& out, std::string& err) {
  const auto d = parse_duration(text, max);
  switch (d.status) {
    case ParsedDuration::Status::ok:
      out = d.value;
      return true;
    case ParsedDuration::Status::too_large:
      err = std::string("--") + flag + ": \"" + shown(text) + "\" exceeds the maximum of " + format_duration(max);
      return false;
    case ParsedDuration::Status::malformed:
      break;
  }
  err = std::string("--") + flag + ": \"" + shown(text) + "\" is not a duration (examples: 15s, 500ms, 1m30s)";
  return false;
}

bool set_durations(ControllerOptions& o, const RawFlags& r, std::string& err) {
  return set_duration("lease-duration", r.lease_duration, kMaxElectionTiming, o.lease_duration, err) &&
         set_duration("renew-deadline", r.renew_deadline, kMaxElectionTiming, o.renew_deadline, err) &&
         set_duration("retry-period", r.retry_period, kMaxElectionTiming, o.retry_period, err) &&
         set_duration("request-timeout", r.request_timeout, kMaxElectionTiming, o.request_timeout, err) &&
         set_duration("reconcile-interval", r.reconcile_interval, kMaxReconcileInterval, o.reconcile_interval, err) &&
         set_duration("workload-grace", r.workload_grace, kMaxWorkloadGrace, o.workload_grace, err) &&
         set_duration("handover-grace", r.handover_grace, kMaxElectionTiming, o.handover_grace, err) &&
         set_duration("drain", r.drain, kMaxElectionTiming, o.drain, err);
}

// The election library names its settings as fields; say them as the flags that set them.
// Timing messages hold only numbers, so every field name is replaced there; a name message
// quotes the user's text, so only its leading field name is.
std::string in_flag_terms(std::string message, bool leading_only) {
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"lease_duration", "--lease-duration"}, {"renew_deadline", "--renew-deadline"},
      {"renew_interval", "--retry-period"},   {"retry_period", "--retry-period"},
      {"lease_name", "--lease-name"},         {"namespace", "--namespace"},
      {"identity", "--identity"},            {"handover_grace", "--handover-grace"},
      {"older_grace", "--handover-grace"},    {"handover_drain", "--drain"}};
  for (const auto& [field, flag] : kNames) {
    for (auto at = message.find(field); at != std::string::npos; at = message.find(field, at + flag.size())) {
      if (leading_only && at != 0) break;
      message.replace(at, field.size(), flag);
    }
  }
  return message;
}

// The rules the elector enforces, checked now so a bad value never reaches discovery.
// Identity and namespace may still be empty (filled after discovery with values that are
// valid by construction), so stand-ins take their place here.
bool check_election(const ControllerOptions& o, std::string& err) {
  election::ElectorOptions eo = to_elector_options(o);
  if (eo.identity.empty()) eo.identity = election::default_identity();
  if (eo.namespace_.empty()) eo.namespace_ = "default";
  if (auto names = election::validate_names(eo); !names.ok()) {
    err = shown(in_flag_terms(names.error().message, true), 512);
    return false;
  }
  if (auto timings = election::resolve_timings(eo); !timings.ok()) {
    err = "invalid timing: " + in_flag_terms(timings.error().message, false);
    return false;
  }
  if (o.request_timeout >= o.renew_deadline || o.request_timeout.count() <= 0) {
    err = "--request-timeout " + format_duration(o.request_timeout) + " must be positive and below --renew-deadline " +
          format_duration(o.renew_deadline) + ", or one slow request could outlive the leader's deadline";
    return false;
  }
  return true;
}

// The leader label, then the pod selector, which must not name the leader key: the cleanup
// list would then match either nothing or only the leader.
bool set_labels(ControllerOptions& o, const RawFlags& r, std::string& err) {
  auto label = labeler::parse_leader_label(r.leader_label, err);
  if (!label) {
    err = "--leader-label: " + shown(err, 512);
    return false;
  }
  o.leader_label = *label;
  auto selector = labeler::parse_pod_selector(r.pod_selector, err);
  if (!selector) {
    err = "--pod-selector: " + shown(err, 512);
    return false;
  }
  for (const auto& term : selector->terms) {
    if (term.first == o.leader_label.key) {
      err = "--pod-selector: must not select on the leader label key \"" + shown(term.first, 512) + "\"";
      return false;
    }
  }
  o.pod_selector = *selector;
  return true;
}

bool set_serving(ControllerOptions& o, const RawFlags& r, std::string& err) {
  if (o.reconcile_interval.count() <= 0) {
    err = "--reconcile-interval must be positive";
    return false;
  }
  if (auto address = http::parse_listen_address(o.http_address); !address.ok()) {
    err = "--http-address: " + shown(address.error().message, 512);
    return false;
  }
  if (!log::parse_level(r.log_level, o.log_level)) {
    err = "--log-level: \"" + shown(r.log_level) + "\" is not one of debug, info, warn, error";
    return false;
  }
  if (r.log_format == "json" || r.log_format == "text") {
    o.log_format = r.log_format == "json" ? log::Logger::Format::json : log::Logger::Format::text;
  } else {
    err = "--log-format: \"" + shown(r.log_format) + "\" is not json or text";
    return false;
  }
  return true;
}

bool finish(ControllerOptions& o, const RawFlags& r, const GetEnv& getenv, std::string& err) {
  if (!set_durations(o, r, err) || !set_labels(o, r, err) || !set_serving(o, r, err)) return false;
  o.label_pods = r.label_pods;
  o.release_on_stop = r.release_on_stop;
  if (r.handover != "newest" && r.handover != "off") {
    err = "--handover: \"" + shown(r.handover) + "\" is not newest or off";
    return false;
  }
  o.handover_newest = r.handover == "newest";
  const char* pod_name = getenv("POD_NAME");
  o.pod_name = pod_name ? pod_name : "";
  if (o.identity.empty()) o.identity = o.pod_name;
  if (o.lease_namespace.empty()) {
    const char* pod_ns = getenv("POD_NAMESPACE");
    if (pod_ns) o.lease_namespace = pod_ns;
  }
  return check_election(o, err);
}

}  // namespace

election::ElectorOptions to_elector_options(const ControllerOptions& o) {
  election::ElectorOptions eo;
  eo.auto_close = false;  // the controller owns the signals: it must stop the workload first
  eo.identity = o.identity;
  eo.lease_name = o.lease_name;
  eo.namespace_ = o.lease_namespace;
  eo.renew_interval = o.retry_period;
  eo.lease_duration = o.lease_duration;  // exact: resolve_timings refuses what the Lease cannot state
  eo.renew_deadline = o.renew_deadline;
  eo.follower_poll = o.retry_period;
  eo.release_on_stop = o.release_on_stop;
  if (o.handover_newest) eo.revision = o.revision;  // off: never hold back as an older revision
  eo.handover_grace = o.handover_grace;
  eo.older_grace = o.handover_grace;
  eo.handover_drain = o.drain;
  return eo;
}

ParseResult parse_options(int argc, const char* const* argv, const GetEnv& getenv) {
  ParseResult result;
  RawFlags raw;
  const po::options_description desc = describe(result.options, raw);
  // Everything after a bare "--" is the workload's command line, untouched.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      for (int j = i + 1; j < argc; ++j) result.options.command.emplace_back(argv[j]);
      break;
    }
    args.emplace_back(argv[i]);
  }
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::store(from_environment(desc, getenv), vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << "leader-elector: Lease-based leader election; labels the leader pod.\n\n"
          << "Usage: leader-elector [flags] [-- CMD ARGS...]\n"
          << "Every flag can also be set as LEADER_ELECTOR_<FLAG> (e.g. LEADER_ELECTOR_LEASE_NAME).\n"
          << desc;
      result.outcome = ParseOutcome::help;
      result.text = out.str();
      return result;
    }
    if (vm.count("version")) {
      result.outcome = ParseOutcome::version;
      return result;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    result.text = shown(e.what(), 512);
    return result;
  }
  if (!finish(result.options, raw, getenv, result.text)) return result;
  result.outcome = ParseOutcome::run;
  return result;
}

}  // namespace kle::controller
