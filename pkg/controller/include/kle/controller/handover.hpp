#pragma once
// Whom a stopping leader names as its successor (docs/HANDOVER.md). Pure: it sees the pods
// of its release as listed, nothing else.
//
// A pod's revision is its pod-template-hash label. A revision's age is the creationTimestamp
// of its oldest live pod: the Deployment creates a new ReplicaSet's pods only after the old
// ones exist, so during a rollout (and a rollback, which also creates fresh pods) the
// revision being rolled out is the one whose oldest pod is youngest. No ReplicaSet read and
// no extra RBAC.
#include <optional>
#include <string>
#include <vector>

#include <kle/api/pod.hpp>

namespace kle::controller {

inline constexpr const char* kRevisionLabel = "pod-template-hash";

struct Successor {
  std::string pod;
  std::string revision;  // the newest revision seen (the successor's)
};

// A Ready pod that is not being deleted, not us, of the newest revision among the live pods,
// and never of a revision older than ours (`own_revision`, or our pod's label when empty).
// Among those, the longest-lived. nullopt when there is none: the release names nobody.
// The newest revision (as above) that has a Ready pod not being deleted; "" when none has a
// revision. The leader records it on the Lease with each renewal (Elector::note_newest_revision),
// so followers of older revisions hold back after a crash as well as after a handover.
std::string newest_ready_revision(const std::vector<api::Pod>& pods);

std::optional<Successor> choose_successor(const std::vector<api::Pod>& pods, const std::string& own_pod,
                                          const std::string& own_revision);

}  // namespace kle::controller
