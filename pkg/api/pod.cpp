#include <kle/api/pod.hpp>

#include <kle/api/json.hpp>

namespace kle::api {
namespace {

Error in_pod(Error e, std::string_view where) {
  e.message = std::string(where) + " " + e.message;
  return e;
}

// Fills `out` from an optional string field; returns the error, if any.
std::optional<Error> take_string(const nlohmann::json& obj, const char* key, std::string_view path, std::string& out) {
  auto v = opt_string(obj, key, path);
  if (!v.ok()) return std::move(v).error();
  out = v->value_or("");
  return std::nullopt;
}

std::optional<Error> take_labels(const nlohmann::json& meta, std::map<std::string, std::string>& out) {
  auto labels = opt_object(meta, "labels", "metadata.labels");
  if (!labels.ok()) return std::move(labels).error();
  if (*labels == nullptr) return std::nullopt;
  for (const auto& [key, value] : (*labels)->items()) {
    if (!value.is_string()) return bad_field("metadata.labels[\"" + key.substr(0, 64) + "\"]", "string", value);
    out.emplace(key, value.get<std::string>());
  }
  return std::nullopt;
}

// status.conditions[type=Ready].status == "True"; anything malformed reads as not ready.
bool ready_condition(const nlohmann::json& status) {
  const auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return false;
  for (const auto& c : *conditions) {
    if (c.is_object() && c.value("type", nlohmann::json()) == "Ready") return c.value("status", nlohmann::json()) == "True";
  }
  return false;
}

std::optional<Error> decode_pod(const nlohmann::json& j, Pod& pod) {
  if (!j.is_object()) return bad_field("(root)", "object", j);
  auto meta = opt_object(j, "metadata", "metadata");
  if (!meta.ok()) return std::move(meta).error();
  if (*meta == nullptr) return local_error(ErrorKind::bad_response, "metadata: missing");
  const nlohmann::json& m = **meta;
  if (auto e = take_string(m, "name", "metadata.name", pod.name)) return e;
  if (auto e = take_string(m, "namespace", "metadata.namespace", pod.namespace_)) return e;
  if (auto e = take_string(m, "resourceVersion", "metadata.resourceVersion", pod.resource_version)) return e;
  if (auto e = take_string(m, "uid", "metadata.uid", pod.uid)) return e;
  if (auto e = take_labels(m, pod.labels)) return e;
  if (auto e = take_string(m, "creationTimestamp", "metadata.creationTimestamp", pod.creation_timestamp)) return e;
  pod.deleting = m.contains("deletionTimestamp") && !m["deletionTimestamp"].is_null();
  auto status = opt_object(j, "status", "status");
  if (!status.ok()) return std::move(status).error();
  if (*status != nullptr) {
    if (auto e = take_string(**status, "phase", "status.phase", pod.phase)) return e;
    if (auto e = take_string(**status, "podIP", "status.podIP", pod.pod_ip)) return e;
    pod.ready = ready_condition(**status);
  }
  return std::nullopt;
}

}  // namespace

Result<Pod> pod_from_json(const nlohmann::json& j) {
  Pod pod;
  if (auto e = decode_pod(j, pod)) return in_pod(std::move(*e), "Pod");
  return pod;
}

Result<Pod> parse_pod(std::string_view body) {
  auto j = parse_json(body, "Pod", JsonPrune::pod);
  if (!j.ok()) return std::move(j).error();
  return pod_from_json(*j);
}

Result<PodList> parse_pod_list(std::string_view body) {
  auto parsed = parse_json(body, "PodList", JsonPrune::pod);
  if (!parsed.ok()) return std::move(parsed).error();
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return in_pod(bad_field("(root)", "object", j), "PodList");
  PodList list;
  auto meta = opt_object(j, "metadata", "metadata");
  if (!meta.ok()) return in_pod(std::move(meta).error(), "PodList");
  if (*meta != nullptr) {
    if (auto e = take_string(**meta, "resourceVersion", "metadata.resourceVersion", list.resource_version)) {
      return in_pod(std::move(*e), "PodList");
    }
  }
  const auto items = j.find("items");
  if (items == j.end() || items->is_null()) return list;  // Go encodes an empty list as null
  if (!items->is_array()) return in_pod(bad_field("items", "array", *items), "PodList");
  list.items.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    Pod pod;
    if (auto e = decode_pod((*items)[i], pod)) return in_pod(std::move(*e), "PodList items[" + std::to_string(i) + "]");
    list.items.push_back(std::move(pod));
  }
  return list;
}

std::string label_merge_patch(const std::map<std::string, std::optional<std::string>>& labels) {
  nlohmann::json l = nlohmann::json::object();
  for (const auto& [key, value] : labels) {
    l[key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  }
  return nlohmann::json{{"metadata", {{"labels", std::move(l)}}}}.dump();
}

}  // namespace kle::api
