// Defaults and validation of the elector's settings. Everything here runs before the
// elector starts, so a bad combination is refused with a message that names the rule and
// the numbers, instead of an elector that flaps or never renews in time.
#include "election/options.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace kle::election {
namespace {

using std::chrono::milliseconds;

api::Error config_error(std::string message) {
  api::Error e;
  e.kind = api::ErrorKind::config;
  e.message = std::move(message);
  return e;
}

std::string ms(milliseconds d) { return std::to_string(d.count()) + "ms"; }

std::string jitter_text(double jitter) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", jitter);
  return buf;
}

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

api::Result<ResolvedTimings> resolve_timings(const ElectorOptions& options) {
  const milliseconds retry = options.renew_interval;
  if (retry <= milliseconds::zero()) {
    return config_error("renew_interval must be positive, got " + ms(retry));
  }
  if (!std::isfinite(options.jitter) || options.jitter < 1.0) {
    return config_error("jitter must be at least 1.0, got " + jitter_text(options.jitter));
  }
  // leaseDurationSeconds is an integer on the wire, so the default is rounded up to whole
  // seconds (rounding up only widens the margin over the renew deadline).
  milliseconds duration{0};
  if (options.lease_duration) {
    duration = *options.lease_duration;
    if (duration < std::chrono::seconds(1)) {
      return config_error("lease_duration must be at least 1s, got " + ms(duration));
    }
  } else {
    const auto twice = 2 * retry.count();
    duration = std::chrono::seconds((twice + 999) / 1000);
  }
  const milliseconds deadline = options.renew_deadline.value_or(duration * 2 / 3);
  if (deadline <= milliseconds::zero()) {
    return config_error("renew_deadline must be positive, got " + ms(deadline));
  }
  const milliseconds poll = options.retry_period.value_or(retry);
  if (poll <= milliseconds::zero()) {
    return config_error("retry_period must be positive, got " + ms(poll));
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
