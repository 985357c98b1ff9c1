#include <kle/labeler/plan.hpp>

#include <algorithm>
#include <cctype>

#include <kle/election/options.hpp>

namespace kle::labeler {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// A label name: up to 63 chars, alphanumeric at both ends, '-', '_', '.' inside.
bool is_name_part(const std::string& s) {
  if (s.empty() || s.size() > 63 || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

}  // namespace

bool is_label_key(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return is_name_part(key);
  // The prefix is a DNS-1123 subdomain: the one validator the lease name uses too.
  return election::is_dns1123_subdomain(key.substr(0, slash)) && is_name_part(key.substr(slash + 1));
}

bool is_label_value(const std::string& value) { return value.empty() || is_name_part(value); }

namespace {

bool carries(const api::Pod& pod, const LeaderLabel& label) {
  const auto it = pod.labels.find(label.key);
  return it != pod.labels.end() && it->second == label.value;
}

}  // namespace

std::optional<LeaderLabel> parse_leader_label(const std::string& text, std::string& why) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) {
    why = "leader label \"" + text + "\" must be KEY=VALUE";
    return std::nullopt;
  }
  LeaderLabel label{text.substr(0, eq), text.substr(eq + 1)};
  if (!is_label_key(label.key)) {
    why = "leader label key \"" + label.key + "\" is not a valid label name ([prefix/]name, name <= 63 chars)";
    return std::nullopt;
  }
  // An empty value would make "carries the label" ambiguous with "has the key", so refuse it.
  if (label.value.empty() || !is_label_value(label.value)) {
    why = "leader label value \"" + label.value + "\" is not a valid non-empty label value";
    return std::nullopt;
  }
  return label;
}

std::vector<LabelChange> plan_as_leader(const std::string& own_pod, const std::vector<api::Pod>& labelled,
                                        const LeaderLabel& label) {
  std::vector<LabelChange> changes;
  bool own_labelled = false;
  for (const api::Pod& pod : labelled) {
    if (!carries(pod, label)) continue;  // selector lag: not ours to touch
    if (pod.name == own_pod) {
      own_labelled = true;
    } else {
      changes.push_back({pod.name, false});
    }
  }
  // Clear stale labels before setting ours: a Service briefly with no endpoint fails fast
  // and clients retry, while one with two endpoints would send traffic to a non-leader.
  if (!own_labelled && !own_pod.empty()) changes.push_back({own_pod, true});
  return changes;
}

std::vector<LabelChange> plan_as_follower(const api::Pod& own, const LeaderLabel& label) {
  if (carries(own, label)) return {{own.name, false}};
  return {};
}

LabelCensus census_of(const std::string& own_pod, const std::vector<api::Pod>& labelled, const LeaderLabel& label) {
  LabelCensus census;
  for (const api::Pod& pod : labelled) {
    if (!carries(pod, label)) continue;
    ++census.labelled;
    if (pod.name == own_pod) census.holder_labelled = true;
  }
  return census;
}

void LabelCensus::after(const LabelChange& change, const std::string& own_pod) {
  if (change.set) {
    ++labelled;
    if (change.pod == own_pod) holder_labelled = true;
  } else if (labelled > 0) {
    --labelled;
    if (change.pod == own_pod) holder_labelled = false;
  }
}

}  // namespace kle::labeler
