#pragma once
// A small reader for Prometheus text format, enough to check what Registry::serialize()
// renders: HELP/TYPE per family and every sample with its labels and value.
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kle::metrics::testing {

using LabelMap = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  LabelMap labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;

  // Samples named `name` whose labels include every pair in `subset`.
  [[nodiscard]] std::vector<Sample> find(const std::string& name, const LabelMap& subset = {}) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : subset) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) out.push_back(s);
    }
    return out;
  }
  // The value of the one sample matching; throws unless exactly one matches.
  [[nodiscard]] double value(const std::string& name, const LabelMap& subset = {}) const {
    auto found = find(name, subset);
    if (found.size() != 1) {
      throw std::runtime_error(name + ": expected 1 sample, found " + std::to_string(found.size()));
    }
    return found.front().value;
  }
};

inline LabelMap parse_labels(const std::string& text) {  // text between { and }
  LabelMap labels;
  std::size_t i = 0;
  while (i < text.size()) {
    auto eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
      throw std::runtime_error("bad labels: " + text);
    }
    std::string key = text.substr(i, eq - i);
    std::string val;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) ++j;
      val += text[j];
    }
    labels[key] = val;
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  return labels;
}

inline Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      auto& target = line[2] == 'H' ? e.help : e.type;
      target[rest.substr(0, sp)] = sp == std::string::npos ? "" : rest.substr(sp + 1);
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    auto brace = line.find('{');
    auto space = line.rfind(' ');
    if (brace != std::string::npos && brace < space) {
      auto close = line.rfind('}');
      s.name = line.substr(0, brace);
      s.labels = parse_labels(line.substr(brace + 1, close - brace - 1));
    } else {
      s.name = line.substr(0, space);
    }
    s.value = std::stod(line.substr(space + 1));
    e.samples.push_back(std::move(s));
  }
  return e;
}

}  // namespace kle::metrics::testing
