#include <kle/labeler/selector.hpp>

#include <algorithm>

#include <kle/labeler/plan.hpp>

namespace kle::labeler {

namespace {

// One "KEY=VALUE" term, checked; the reason in `why` when it is not one.
bool parse_term(const std::string& term, const PodSelector& so_far, std::string& key, std::string& value,
                std::string& why) {
  const auto eq = term.find('=');
  // "!=", "==", "!key" and set-based terms all carry a '!', a second '=' or no '=' at all.
  if (eq == std::string::npos || term.find('!') != std::string::npos || term.find('=', eq + 1) != std::string::npos) {
    why = "term \"" + term + "\" is not KEY=VALUE (only equality terms, comma-separated)";
    return false;
  }
  key = term.substr(0, eq);
  value = term.substr(eq + 1);
  if (!is_label_key(key)) {
    why = "key \"" + key + "\" is not a valid label name ([prefix/]name, name <= 63 chars)";
    return false;
  }
  if (!is_label_value(value)) {
    why = "value \"" + value + "\" of " + key + " is not a valid label value";
    return false;
  }
  const bool repeated =
      std::any_of(so_far.terms.begin(), so_far.terms.end(), [&](const auto& t) { return t.first == key; });
  if (repeated) why = "key \"" + key + "\" appears more than once";
  return !repeated;
}

}  // namespace

std::string PodSelector::text() const {
  std::string out;
  for (const auto& [key, value] : terms) {
    if (!out.empty()) out += ',';
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

std::optional<PodSelector> parse_pod_selector(const std::string& text, std::string& why) {
  PodSelector selector;
  if (text.empty()) return selector;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::string key, value;
    if (!parse_term(term, selector, key, value, why)) return std::nullopt;
    selector.terms.emplace_back(std::move(key), std::move(value));
    if (comma == std::string::npos) return selector;
    start = comma + 1;
  }
}

std::string cleanup_selector(const std::string& leader_selector, const PodSelector& pods) {
  if (pods.empty() || leader_selector.empty()) return pods.empty() ? leader_selector : pods.text();
  return leader_selector + "," + pods.text();
}

}  // namespace kle::labeler
