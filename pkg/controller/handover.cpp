#include <kle/controller/handover.hpp>

#include <map>
#include <utility>

namespace kle::controller {
namespace {

std::string revision_of(const api::Pod& pod) {
  const auto it = pod.labels.find(kRevisionLabel);
  return it == pod.labels.end() ? std::string() : it->second;
}

// Each revision's age: its oldest live pod's creationTimestamp (RFC 3339 UTC in whole
// seconds orders as text). Pods being deleted do not count: they are on their way out.
std::map<std::string, std::string> revision_ages(const std::vector<api::Pod>& pods) {
  std::map<std::string, std::string> born;
  for (const auto& pod : pods) {
    const std::string rev = revision_of(pod);
    if (rev.empty() || pod.deleting || pod.creation_timestamp.empty()) continue;
    auto [it, inserted] = born.emplace(rev, pod.creation_timestamp);
    if (!inserted && pod.creation_timestamp < it->second) it->second = pod.creation_timestamp;
  }
  return born;
}

}  // namespace

std::string newest_ready_revision(const std::vector<api::Pod>& pods) {
  const auto born = revision_ages(pods);
  std::pair<std::string, std::string> best;  // (age, revision): the youngest, ties by name
  for (const auto& pod : pods) {
    const std::string rev = revision_of(pod);
    if (!pod.ready || pod.deleting || rev.empty()) continue;
    const auto it = born.find(rev);
    if (it == born.end()) continue;
    best = std::max(best, std::make_pair(it->second, rev));
  }
  return best.second;
}

std::optional<Successor> choose_successor(const std::vector<api::Pod>& pods, const std::string& own_pod,
                                          const std::string& own_revision) {
  const auto born = revision_ages(pods);
  std::string ours = own_revision;
  for (const auto& pod : pods) {
    if (ours.empty() && pod.name == own_pod) ours = revision_of(pod);
  }
  const auto age = [&](const std::string& rev) {
    const auto it = born.find(rev);
    return it == born.end() ? std::string() : it->second;
  };
  const std::string our_age = age(ours);
  // Newest revision first (ties between revisions by name, for a stable choice); then the
  // pod that has lived longest.
  const auto key = [&](const api::Pod& p) { return std::make_pair(age(revision_of(p)), revision_of(p)); };
  const api::Pod* best = nullptr;
  for (const auto& pod : pods) {
    const std::string rev = revision_of(pod);
    if (pod.name == own_pod || !pod.ready || pod.deleting || rev.empty() || age(rev).empty()) continue;
    if (!our_age.empty() && age(rev) < our_age) continue;  // never to an older revision
    if (best == nullptr || key(pod) > key(*best) ||
        (key(pod) == key(*best) && pod.creation_timestamp < best->creation_timestamp)) {
      best = &pod;
    }
  }
  if (best == nullptr) return std::nullopt;
  return Successor{best->name, revision_of(*best)};
}

}  // namespace kle::controller
