#include "labeler/selector.hpp"

#include <algorithm>

#include "labeler/plan.hpp"

namespace kle::labeler {

std::string PodSelector::text() const {
  std::string out;
  for (const auto& [key, value] : terms) out += (out.empty() ? "" : ",") + key + "=" + value;
  return out;
}

std::optional<PodSelector> parse_pod_selector(const std::string& text, std::string& why) {
  PodSelector selector;
  if (text.empty()) return selector;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto eq = term.find('=');
    // "!=", "==", "!key" and set-based terms all carry a '!', a second '=' or no '=' at all.
    if (eq == std::string::npos || term.find('!') != std::string::npos || term.find('=', eq + 1) != std::string::npos) {
      why = "term \"" + term + "\" is not KEY=VALUE (only equality terms, comma-separated)";
      return std::nullopt;
    }
    std::string key = term.substr(0, eq), value = term.substr(eq + 1);
    if (!is_label_key(key)) {
      why = "key \"" + key + "\" is not a valid label name ([prefix/]name, name <= 63 chars)";
      return std::nullopt;
    }
    if (!is_label_value(value)) {
      why = "value \"" + value + "\" of " + key + " is not a valid label value";
      return std::nullopt;
    }
    const bool repeated = std::any_of(selector.terms.begin(), selector.terms.end(),
                                      [&](const auto& t) { return t.first == key; });
    if (repeated) {
      why = "key \"" + key + "\" appears more than once";
      return std::nullopt;
    }
    selector.terms.emplace_back(std::move(key), std::move(value));
    if (comma == std::string::npos) return selector;
    start = comma + 1;
  }
}

std::string cleanup_selector(const std::string& leader_selector, const PodSelector& pods) {
  return pods.empty() ? leader_selector : leader_selector + "," + pods.text();
}

}  // namespace kle::labeler
