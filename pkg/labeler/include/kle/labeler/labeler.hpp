#pragma once
// Keeps the leader label where the lease says it belongs. The leader reconciles on every
// acquisition and periodically while leading; a follower clears its own pod on start and
// on loss. Failures are reported and retried on the next round, never fatal: routing is
// best effort on top of the lease, which stays the source of truth.
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include <kle/labeler/plan.hpp>
#include <kle/labeler/pod_api.hpp>
#include <kle/log/logger.hpp>

namespace kle::labeler {

struct LabelerHooks {
  std::function<void(std::string_view action)> on_action;  // "set" | "clear"
  std::function<void()> on_failure;
  // After every leader round that listed and is still leading at its end: the labelled pods
  // as the round left them (the list, then every change the apiserver acknowledged). It
  // reuses the round's one list, so the check costs no API call.
  std::function<void(const LabelCensus&)> on_census;
};

class Labeler {
 public:
  Labeler(PodApi& api, std::string own_pod, LeaderLabel label, log::Logger log, LabelerHooks hooks = {});

  // Lists the pods carrying the label, clears every one but ours, then labels ours.
  // `still_leader` is checked before each write, so a leader that lost the lease mid-round
  // never strips the label from the pod that now leads. Returns true when nothing failed.
  // Reports the census (hooks.on_census) when the round ends still leading.
  boost::asio::awaitable<bool> reconcile_as_leader(std::function<bool()> still_leader);
  // Makes sure our own pod does not carry the leader value. `still_follower` is checked before
  // each write: after a quick re-election the GET may show the label our new leader round
  // has just set, and clearing it would unroute the leader until the next reconcile.
  // The controller also runs it once at start, before campaigning: a container restarted in
  // the same pod (kill -9, OOM) finds the label its last life left, and until it is cleared
  // the leader Service routes to a follower. Nothing can make us leader before that round
  // ends (the elector has not started), so it cannot race a leader round; if we then win the
  // lease back, the leader round labels us again (a brief unroute, never a wrong route).
  boost::asio::awaitable<bool> reconcile_as_follower(std::function<bool()> still_follower);

  [[nodiscard]] const LeaderLabel& label() const noexcept { return label_; }
  [[nodiscard]] const std::string& own_pod() const noexcept { return own_pod_; }

 private:
  boost::asio::awaitable<bool> apply(const LabelChange& change);
  void failed(std::string_view what, const api::Error& error);

  PodApi& api_;
  std::string own_pod_;
  LeaderLabel label_;
  log::Logger log_;
  LabelerHooks hooks_;
};

}  // namespace kle::labeler
