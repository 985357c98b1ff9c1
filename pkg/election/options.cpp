// Defaults and validation of the elector's settings. Everything here runs before the
// elector starts, so a bad combination is refused with a message that names the rule and
// the numbers, instead of an elector that flaps or never renews in time.
#include <kle/election/options.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace kle::election {
namespace {

using std::chrono::milliseconds;

api::Error config_error(std::string message) {
  return api::local_error(api::ErrorKind::config, std::move(message));
}

std::string ms(milliseconds d) { return std::to_string(d.count()) + "ms"; }

std::string jitter_text(double jitter) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", jitter);
  return buf;
}

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// The lease as written: whole seconds (leaseDurationSeconds is an integer) within the
// int32 the API allows. Anything else would leave this process timing a lease that
// differs from the one its peers read.
api::Result<milliseconds> resolve_lease_duration(const ElectorOptions& options, milliseconds retry) {
  if (!options.lease_duration) {
    // Rounding the default up only widens the margin over the renew deadline. retry is
    // already at most kMaxLeaseDuration, so 2 x retry cannot overflow.
    const auto twice = 2 * retry.count();
    return milliseconds(std::chrono::seconds((twice + 999) / 1000));
  }
  const milliseconds duration = *options.lease_duration;
  if (duration < std::chrono::seconds(1)) {
    return config_error("lease_duration must be at least 1s, got " + ms(duration));
  }
  if (duration > kMaxLeaseDuration) {
    return config_error("lease_duration (" + ms(duration) + ") exceeds " + std::to_string(kMaxLeaseDuration.count()) +
                        "s, the most leaseDurationSeconds (an int32) can state");
  }
  if (duration % std::chrono::seconds(1) != milliseconds::zero()) {
    return config_error("lease_duration (" + ms(duration) +
                        ") must be a whole number of seconds: leaseDurationSeconds is an integer");
  }
  return duration;
}

// The elector waits up to (1 + jitter) x the longest period (the watch backoff tops out at
// the lease duration). Checked in floating point so the check itself cannot overflow; the
// bound leaves steady_clock room for now() + wait.
api::Result<void> check_longest_wait(milliseconds lease, milliseconds poll, double jitter) {
  constexpr double kMaxWaitMs = 8e15;  // 8e18 ns of a 9.2e18 ns steady_clock range, ~250 years
  const double longest = (1.0 + jitter) * static_cast<double>(std::max(lease, poll).count());
  if (longest > kMaxWaitMs) {
    return config_error("(1 + jitter) x max(lease_duration, follower_poll) = (1 + " + jitter_text(jitter) + ") x " +
                        ms(std::max(lease, poll)) + " exceeds the longest wait a timer can hold (about 250 years)");
  }
  return {};
}

}  // namespace

api::Result<ResolvedTimings> resolve_timings(const ElectorOptions& options) {
  const milliseconds retry = options.renew_interval;
  if (retry <= milliseconds::zero()) {
    return config_error("renew_interval must be positive, got " + ms(retry));
  }
  if (retry > kMaxLeaseDuration) {
    return config_error("renew_interval (" + ms(retry) + ") must be below lease_duration, at most " +
                        std::to_string(kMaxLeaseDuration.count()) + "s");
  }
  if (!std::isfinite(options.jitter) || options.jitter < 1.0) {
    return config_error("jitter must be at least 1.0, got " + jitter_text(options.jitter));
  }
  const auto lease = resolve_lease_duration(options, retry);
  if (!lease.ok()) return lease.error();
  const milliseconds duration = *lease;
  const milliseconds deadline = options.renew_deadline.value_or(duration * 2 / 3);
  if (deadline <= milliseconds::zero()) {
    return config_error("renew_deadline must be positive, got " + ms(deadline));
  }
  const milliseconds poll = options.follower_poll.value_or(retry);
  if (poll <= milliseconds::zero()) {
    return config_error("follower_poll must be positive, got " + ms(poll));
  }
  if (duration <= deadline) {
    return config_error("lease_duration (" + ms(duration) + ") must be greater than renew_deadline (" +
                        ms(deadline) + ")");
  }
  const double jittered = options.jitter * static_cast<double>(retry.count());
  if (static_cast<double>(deadline.count()) <= jittered) {
    return config_error("renew_deadline (" + ms(deadline) + ") must be greater than jitter x renew_interval (" +
                        jitter_text(options.jitter) + " x " + ms(retry) + " = " +
                        std::to_string(std::llround(jittered)) + "ms)");
  }
  if (auto waits = check_longest_wait(duration, poll, options.jitter); !waits.ok()) return waits.error();
  // The handover waits are bounded by the lease: a hint can delay a takeover, never stall it.
  const std::pair<const char*, milliseconds> handover[] = {{"handover_grace", options.handover_grace},
                                                           {"older_grace", options.older_grace},
                                                           {"handover_drain", options.handover_drain}};
  for (const auto& [name, value] : handover) {
    if (value < milliseconds::zero() || value > duration) {
      return config_error(std::string(name) + " (" + ms(value) + ") must be between 0 and lease_duration (" +
                          ms(duration) + ")");
    }
  }
  return ResolvedTimings{duration, deadline, retry, poll, options.jitter};
}

bool is_dns1123_label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!is_alnum_lower(name.front()) || !is_alnum_lower(name.back())) return false;
  for (char c : name) {
    if (!is_alnum_lower(c) && c != '-') return false;
  }
  return true;
}

bool is_dns1123_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    const auto part = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Labels of a subdomain follow the label rules, minus the 63-character limit.
    if (part.empty() || !is_alnum_lower(part.front()) || !is_alnum_lower(part.back())) return false;
    for (char c : part) {
      if (!is_alnum_lower(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

api::Result<void> validate_names(const ElectorOptions& options) {
  if (options.identity.empty()) {
    return config_error("identity must not be empty (fill defaults with with_defaults())");
  }
  if (!is_dns1123_subdomain(options.lease_name)) {
    return config_error("lease_name \"" + options.lease_name +
                        "\" is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', at most 253)");
  }
  if (!is_dns1123_label(options.namespace_)) {
    return config_error("namespace \"" + options.namespace_ +
                        "\" is not a DNS-1123 label (lower case alphanumerics and '-', at most 63)");
  }
  return {};
}

std::string default_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "%s", "unknown");
  }
  return "elector-" + std::string(host) + "-" + std::to_string(::getpid());
}

std::string default_namespace(const std::string& service_account_namespace_file) {
  std::ifstream in(service_account_namespace_file);
  std::string ns;
  if (in && std::getline(in, ns)) {
    while (!ns.empty() && (ns.back() == '\n' || ns.back() == '\r' || ns.back() == ' ')) ns.pop_back();
    if (!ns.empty()) return ns;
  }
  return "default";
}

ElectorOptions with_defaults(ElectorOptions options) {
  if (options.identity.empty()) options.identity = default_identity();
  if (options.namespace_.empty()) options.namespace_ = default_namespace();
  return options;
}

}  // namespace kle::election
