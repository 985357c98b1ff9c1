#pragma once
// The pod calls the labeler makes. An interface so the labeler is tested against a fake;
// KubePodApi adapts kube::Client.
#include <map>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api/pod.hpp"
#include "api/result.hpp"

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

class KubePodApi final : public PodApi {
 public:
  KubePodApi(kube::Client& client, std::string ns) : client_(client), ns_(std::move(ns)) {}
  boost::asio::awaitable<api::Result<api::Pod>> get(std::string name) override;
  boost::asio::awaitable<api::Result<api::PodList>> list(std::string label_selector) override;
  boost::asio::awaitable<api::Result<api::Pod>> patch_labels(std::string name, LabelPatch labels) override;

 private:
  kube::Client& client_;
  std::string ns_;
};

}  // namespace kle::labeler
