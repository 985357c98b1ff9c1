#pragma once
// The release's own pods: an equality label selector ("k=v,k2=v2") that scopes the leader's
// stale-label cleanup, so two releases sharing one leader label in one namespace never clear
// each other's label. Only equality terms: that is all a Deployment's matchLabels (and so the
// chart) produce, and a set-based term would be easy to get subtly wrong here.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kle::labeler {

struct PodSelector {
  std::vector<std::pair<std::string, std::string>> terms;  // in the order given
  [[nodiscard]] bool empty() const noexcept { return terms.empty(); }
  // "k=v,k2=v2", the form the apiserver's labelSelector parameter takes.
  [[nodiscard]] std::string text() const;
};

// Parses "KEY=VALUE[,KEY=VALUE...]"; "" is the empty selector (every pod). nullopt on error,
// with a one-line reason in `why`. Keys are qualified label names, values label values (may be
// empty); a key may appear once.
std::optional<PodSelector> parse_pod_selector(const std::string& text, std::string& why);

// The list selector the leader's cleanup sends: the leader label, then the pod selector.
std::string cleanup_selector(const std::string& leader_selector, const PodSelector& pods);

}  // namespace kle::labeler
