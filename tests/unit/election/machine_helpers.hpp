#pragma once
// What the machine tests share: the server's answer to a write that landed, and whether
// the effects hold an event.
#include <algorithm>
#include <string>
#include <vector>

#include <kle/election/machine.hpp>

namespace kle::testing {

// What the server returns for a write that landed: the record with a new version.
inline api::Lease landed(const election::LoopStep& step, const std::string& rv) {
  api::Lease l = step.decision.record;
  l.resource_version = rv;
  return l;
}

inline bool emitted(const std::vector<election::Effect>& effects, election::Event event) {
  return std::any_of(effects.begin(), effects.end(), [&](const election::Effect& e) {
    return e.kind == election::Effect::Kind::emit && e.event == event;
  });
}

}  // namespace kle::testing
