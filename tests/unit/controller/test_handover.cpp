// The stopping leader's choice of successor: newest revision, Ready, never older than ours.
#include <catch2/catch.hpp>

#include <kle/controller/handover.hpp>

using namespace kle;
using kle::controller::choose_successor;
using kle::controller::newest_ready_revision;

namespace {

api::Pod pod(const std::string& name, const std::string& rev, const std::string& created, bool ready = true,
             bool deleting = false) {
  api::Pod p;
  p.name = name;
  if (!rev.empty()) p.labels["pod-template-hash"] = rev;
  p.creation_timestamp = created;
  p.ready = ready;
  p.deleting = deleting;
  return p;
}

}  // namespace

TEST_CASE("successor: mid-rollout, the leader of the old revision names a Ready pod of the new one") {
  const std::vector<api::Pod> pods = {
      pod("old-a", "r1", "2026-12-02T10:00:00Z"), pod("old-b", "r1", "2026-12-02T10:00:01Z"),
      pod("new-a", "r2", "2026-12-02T11:00:05Z"), pod("new-b", "r2", "2026-12-02T11:00:00Z", false)};
  const auto s = choose_successor(pods, "old-a", "r1");
  REQUIRE(s);
  CHECK(s->pod == "new-a");  // new-b is not Ready
  CHECK(s->revision == "r2");
}

TEST_CASE("successor: never an older revision, never a pod being deleted, never ourselves") {
  const std::vector<api::Pod> pods = {pod("old-a", "r1", "2026-12-02T10:00:00Z"),
                                      pod("new-a", "r2", "2026-12-02T11:00:00Z"),
                                      pod("new-b", "r2", "2026-12-02T11:00:09Z", true, true)};
  CHECK_FALSE(choose_successor(pods, "new-a", "r2"));
  CHECK_FALSE(choose_successor({pod("me", "r1", "2026-12-02T10:00:00Z")}, "me", "r1"));
}

TEST_CASE("successor: an old pod re-created mid-rollout does not make its revision newer") {
  // r1's oldest live pod is older than r2's: r2 stays the newest.
  const std::vector<api::Pod> pods = {pod("old-a", "r1", "2026-12-02T10:00:00Z"),
                                      pod("old-recreated", "r1", "2026-12-02T11:00:30Z"),
                                      pod("new-a", "r2", "2026-12-02T11:00:00Z")};
  const auto s = choose_successor(pods, "new-a", "r2");
  CHECK_FALSE(s);
  const auto from_old = choose_successor(pods, "old-a", "");  // our revision from our own pod's label
  REQUIRE(from_old);
  CHECK(from_old->pod == "new-a");
}

TEST_CASE("successor: a plain delete of the leader names the longest-lived Ready peer of its revision") {
  const std::vector<api::Pod> pods = {pod("a", "r1", "2026-12-02T10:00:00Z"), pod("b", "r1", "2026-12-02T10:00:02Z"),
                                      pod("c", "r1", "2026-12-02T10:00:01Z")};
  const auto s = choose_successor(pods, "a", "r1");
  REQUIRE(s);
  CHECK(s->pod == "c");
}

TEST_CASE("newest Ready revision: the youngest revision with a Ready pod not being deleted") {
  CHECK(newest_ready_revision({}).empty());
  CHECK(newest_ready_revision({pod("a", "", "2026-12-02T10:00:00Z")}).empty());
  const std::vector<api::Pod> rolling = {pod("old-a", "r1", "2026-12-02T10:00:00Z"),
                                         pod("new-a", "r2", "2026-12-02T11:00:00Z")};
  CHECK(newest_ready_revision(rolling) == "r2");
  // The new revision's only pod is not Ready yet, or is being deleted: not a place to go.
  CHECK(newest_ready_revision({pod("old-a", "r1", "2026-12-02T10:00:00Z"),
                               pod("new-a", "r2", "2026-12-02T11:00:00Z", false)}) == "r1");
  CHECK(newest_ready_revision({pod("old-a", "r1", "2026-12-02T10:00:00Z"),
                               pod("new-a", "r2", "2026-12-02T11:00:00Z", true, true)}) == "r1");
  // An old pod re-created mid-rollout does not make its revision the newest.
  CHECK(newest_ready_revision({pod("old-a", "r1", "2026-12-02T10:00:00Z"), pod("old-b", "r1", "2026-12-02T11:00:30Z"),
                               pod("new-a", "r2", "2026-12-02T11:00:00Z")}) == "r2");
}
