#pragma once
// Small helpers shared by the API decoders: a non-throwing, depth-limited JSON parse and
// typed field access that names the offending field in the error. Kept public because
// the kube client decodes watch events and Status bodies with the same rules.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <kle/api/result.hpp>

namespace kle::api {

// Deeper documents are refused: nlohmann's dump/copy/compare recurse, so an unbounded
// depth from a hostile or broken server could exhaust the stack. Real objects nest < 20.
inline constexpr int kMaxJsonDepth = 64;

// What a parse may leave out as it reads.
enum class JsonPrune {
  none,
  // Every `metadata.managedFields` (the apiserver's field-manager bookkeeping, often most
  // of a small object's nodes), at any depth: in a watch event, a list's items, the object.
  // Never built, so never allocated: for Lease decoders, which would drop it anyway.
  managed_fields,
  // For Pod decoders, which read a pod's name, namespace, version, uid, labels, creation and
  // deletion times, phase, IP and Ready condition alone: besides every managedFields, a
  // pod's `spec` (the object at the root or in `items`), `annotations` and `ownerReferences`
  // in any metadata, and the container statuses in any status. A kubelet's Pod is mostly
  // these; a leader that lists its pods would build them only to free them, and the heap
  // keeps the high-water mark (issue 14: resident memory of the leader).
  pod,
};

// Parses `body` without exceptions; `what` names the document in the error ("Lease").
Result<nlohmann::json> parse_json(std::string_view body, std::string_view what, JsonPrune prune = JsonPrune::none);

Error bad_field(std::string_view path, std::string_view expected, const nlohmann::json& got);

// Each returns nullopt when the key is absent or null, an error when it has another type,
// and the value otherwise. `path` is the dotted name used in messages ("spec.renewTime").
Result<std::optional<std::string>> opt_string(const nlohmann::json& obj, const char* key, std::string_view path);
Result<std::optional<int>> opt_int32(const nlohmann::json& obj, const char* key, std::string_view path);
Result<std::optional<std::int64_t>> opt_int64(const nlohmann::json& obj, const char* key, std::string_view path);
// An object member that must be an object when present; nullptr when absent or null.
Result<const nlohmann::json*> opt_object(const nlohmann::json& obj, const char* key, std::string_view path);

// JSON type name for messages: "string", "number", "object", ...
std::string json_type_name(const nlohmann::json& j);

}  // namespace kle::api
