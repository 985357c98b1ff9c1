#pragma once
// The few parts of a core/v1 Pod the controller needs: identity, labels, phase and IP.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <kle/api/result.hpp>

namespace kle::api {

struct Pod {
  std::string name;
  std::string namespace_;
  std::string resource_version;
  std::string uid;
  std::map<std::string, std::string> labels;
  std::string phase;
  std::string pod_ip;
  // For the handover's choice of successor (docs/HANDOVER.md): RFC 3339 as the server wrote
  // it (seconds, UTC, so it orders as text), being deleted, and the Ready condition True.
  std::string creation_timestamp;
  bool deleting = false;
  bool ready = false;
};

struct PodList {
  std::string resource_version;
  std::vector<Pod> items;
};

Result<Pod> pod_from_json(const nlohmann::json& j);
Result<Pod> parse_pod(std::string_view body);
Result<PodList> parse_pod_list(std::string_view body);

// A JSON merge patch (RFC 7386) of metadata.labels: a value sets the label, nullopt
// removes it (serialised as null).
std::string label_merge_patch(const std::map<std::string, std::optional<std::string>>& labels);

}  // namespace kle::api
