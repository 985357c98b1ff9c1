#pragma once
// What fenced-writer and two-leases set up alike (basic spells it out: it is the README's
// snippet and stands alone): the cluster from a kubeconfig, and options with the identity
// from $POD_NAME (else elector-{hostname}-{pid}) and a text log on stderr.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <kle/election/options.hpp>
#include <kle/kube/config.hpp>
#include <kle/log/logger.hpp>

namespace examples {

// The kubeconfig's cluster, or nullopt after printing why not.
inline std::optional<kle::kube::ClusterConfig> load_cluster(const std::string& kubeconfig) {
  auto cfg = kle::kube::load_kubeconfig(kubeconfig);
  if (!cfg.ok()) {
    std::cerr << cfg.error().message << '\n';
    return std::nullopt;
  }
  return std::move(cfg).value();
}

// Defaults filled in; the namespace is the kubeconfig context's when it names one.
inline kle::election::ElectorOptions elector_options(const kle::kube::ClusterConfig& cluster) {
  kle::election::ElectorOptions opt;
  const char* pod = std::getenv("POD_NAME");
  opt.identity = pod ? pod : "";
  opt.namespace_ = cluster.namespace_;
  opt.log = kle::log::Logger(kle::log::Level::info, kle::log::Logger::Format::text, kle::log::stderr_sink());
  return kle::election::with_defaults(opt);
}

}  // namespace examples
