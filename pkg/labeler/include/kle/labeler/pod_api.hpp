#pragma once
// The pod calls the labeler makes. An interface so the labeler is tested against a fake;
// KubePodApi adapts kube::Client.
#include <map>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include <kle/api/pod.hpp>
#include <kle/api/result.hpp>
#include <kle/labeler/selector.hpp>

namespace kle::kube {
class Client;
}

namespace kle::labeler {

using LabelPatch = std::map<std::string, std::optional<std::string>>;

class PodApi {
 public:
  virtual ~PodApi() = default;
  virtual boost::asio::awaitable<api::Result<api::Pod>> get(std::string name) = 0;
  virtual boost::asio::awaitable<api::Result<api::PodList>> list(std::string label_selector) = 0;
  virtual boost::asio::awaitable<api::Result<api::Pod>> patch_labels(std::string name, LabelPatch labels) = 0;
};

// `own_pods` narrows every list to this release's pods (--pod-selector): the leader's cleanup
// must never see, let alone clear, a label another release put on its own leader.
class KubePodApi final : public PodApi {
 public:
  KubePodApi(kube::Client& client, std::string ns, PodSelector own_pods = {})
      : client_(client), ns_(std::move(ns)), own_pods_(std::move(own_pods)) {}
  boost::asio::awaitable<api::Result<api::Pod>> get(std::string name) override;
  // Lists pods matching `label_selector` and the pod selector.
  boost::asio::awaitable<api::Result<api::PodList>> list(std::string label_selector) override;
  boost::asio::awaitable<api::Result<api::Pod>> patch_labels(std::string name, LabelPatch labels) override;

 private:
  kube::Client& client_;
  std::string ns_;
  PodSelector own_pods_;
};

}  // namespace kle::labeler
