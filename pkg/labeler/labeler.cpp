#include <kle/labeler/labeler.hpp>

#include <utility>

namespace kle::labeler {

Labeler::Labeler(PodApi& api, std::string own_pod, LeaderLabel label, log::Logger log, LabelerHooks hooks)
    : api_(api), own_pod_(std::move(own_pod)), label_(std::move(label)), log_(std::move(log)), hooks_(std::move(hooks)) {}

void Labeler::failed(std::string_view what, const api::Error& error) {
  log_.warn("pod label reconcile failed", {{"step", what}, {"error", error.describe()}});
  if (hooks_.on_failure) hooks_.on_failure();
}

boost::asio::awaitable<bool> Labeler::apply(const LabelChange& change) {
  LabelPatch patch;
  patch[label_.key] = change.set ? std::optional<std::string>(label_.value) : std::nullopt;
  auto result = co_await api_.patch_labels(change.pod, std::move(patch));
  const char* action = change.set ? "set" : "clear";
  if (!result.ok()) {
    // A pod that is gone carries no label: clearing it is done, setting ours cannot be.
    if (result.error().is(api::ErrorKind::not_found) && !change.set) co_return true;
    failed(std::string(action) + " " + change.pod, result.error());
    co_return false;
  }
  log_.info(change.set ? "leader label set" : "leader label cleared",
            {{"pod", change.pod}, {"label", label_.selector()}});
  if (hooks_.on_action) hooks_.on_action(action);
  co_return true;
}

boost::asio::awaitable<bool> Labeler::reconcile_as_leader(std::function<bool()> still_leader) {
  auto listed = co_await api_.list(label_.selector());
  if (!listed.ok()) {
    failed("list", listed.error());
    co_return false;
  }
  bool ok = true;
  LabelCensus census = census_of(own_pod_, listed->items, label_);
  for (const LabelChange& change : plan_as_leader(own_pod_, listed->items, label_)) {
    if (!still_leader()) {
      log_.info("leadership lost during label reconcile; stopping it");
      co_return false;
    }
    const bool done = co_await apply(change);
    if (done) census.after(change, own_pod_);
    ok = done && ok;
  }
  // A leader that lost the lease during the last write reports nothing: the count is the
  // new leader's to tell.
  if (still_leader() && hooks_.on_census) hooks_.on_census(census);
  co_return ok;
}

boost::asio::awaitable<bool> Labeler::reconcile_as_follower(std::function<bool()> still_follower) {
  auto own = co_await api_.get(own_pod_);
  if (!own.ok()) {
    failed("get own pod", own.error());
    co_return false;
  }
  bool ok = true;
  for (const LabelChange& change : plan_as_follower(*own, label_)) {
    if (!still_follower()) {
      log_.info("leadership gained during follower label cleanup; leaving the label to the leader round");
      co_return false;
    }
    ok = (co_await apply(change)) && ok;
  }
  co_return ok;
}

}  // namespace kle::labeler
