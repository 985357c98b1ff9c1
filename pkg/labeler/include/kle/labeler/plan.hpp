#pragma once
// Which pod labels must change, decided without I/O. The leader's pod carries the leader
// label; no other pod may. A crashed leader never unlabels itself, so whoever leads now
// clears the label from every other pod it finds carrying it.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <kle/api/pod.hpp>

namespace kle::labeler {

struct LeaderLabel {
  std::string key = "leader-elector/leader";
  std::string value = "true";
  [[nodiscard]] std::string selector() const { return key + "=" + value; }
};

// Parses "KEY=VALUE" (KEY a qualified label name, VALUE a label value). nullopt on error,
// with the reason in `why`.
std::optional<LeaderLabel> parse_leader_label(const std::string& text, std::string& why);
bool is_label_key(const std::string& key);
bool is_label_value(const std::string& value);

struct LabelChange {
  std::string pod;
  bool set = false;  // true: set key=value; false: remove the key
  bool operator==(const LabelChange&) const = default;
};

// While leading: set our own label if missing, clear it on every other labelled pod.
// `labelled` is the result of listing pods by the leader selector.
std::vector<LabelChange> plan_as_leader(const std::string& own_pod, const std::vector<api::Pod>& labelled,
                                        const LeaderLabel& label);

// The cluster-level check the leader exports: how many pods (in its pod-selector scope) carry
// the leader label, and whether the holder's, its own, is one of them.
struct LabelCensus {
  std::size_t labelled = 0;
  bool holder_labelled = false;
  // Accounts for a change the apiserver has acknowledged.
  void after(const LabelChange& change, const std::string& own_pod);
  bool operator==(const LabelCensus&) const = default;
};

// The census of a leader's list, before any change of the round.
LabelCensus census_of(const std::string& own_pod, const std::vector<api::Pod>& labelled, const LeaderLabel& label);

// While following: only our own pod is our business; clear it if it carries the value.
std::vector<LabelChange> plan_as_follower(const api::Pod& own, const LeaderLabel& label);

}  // namespace kle::labeler
