#include <kle/kube/client.hpp>
#include <kle/labeler/pod_api.hpp>

namespace kle::labeler {

boost::asio::awaitable<api::Result<api::Pod>> KubePodApi::get(std::string name) {
  co_return co_await client_.get_pod(ns_, std::move(name));
}

boost::asio::awaitable<api::Result<api::PodList>> KubePodApi::list(std::string label_selector) {
  co_return co_await client_.list_pods(ns_, cleanup_selector(label_selector, own_pods_));
}

boost::asio::awaitable<api::Result<api::Pod>> KubePodApi::patch_labels(std::string name, LabelPatch labels) {
  co_return co_await client_.patch_pod_labels(ns_, std::move(name), std::move(labels));
}

}  // namespace kle::labeler
