#include <kle/api/json.hpp>

#include <limits>
#include <vector>

namespace kle::api {
namespace {

// What opened a container: the key it is the value of (an element of "items" and the root
// count as an object of a list or the object itself).
enum class Opened : char { other, metadata, status, items, object };

Opened opened_by(std::string_view key) {
  if (key == "metadata") return Opened::metadata;
  if (key == "status") return Opened::status;
  if (key == "items") return Opened::items;
  return Opened::other;
}

// Refusing a key discards its value, which is then never built.
bool pruned(JsonPrune prune, Opened container, std::string_view key) {
  if (prune == JsonPrune::none) return false;
  if (container == Opened::metadata && key == "managedFields") return true;
  if (prune != JsonPrune::pod) return false;
  switch (container) {
    case Opened::metadata:
      return key == "annotations" || key == "ownerReferences";
    case Opened::object:
      return key == "spec";
    case Opened::status:
      return key == "containerStatuses" || key == "initContainerStatuses" || key == "ephemeralContainerStatuses";
    default:
      return false;
  }
}

}  // namespace

Result<nlohmann::json> parse_json(std::string_view body, std::string_view what, JsonPrune prune) {
  using Event = nlohmann::json::parse_event_t;
  bool too_deep = false;
  // opened[L]: what opened the container whose keys are at level L. nlohmann reports a
  // container's start at the level of its parent, and the keys inside it one level deeper;
  // it reports no end for containers inside a discarded value, so the stack is cut at each
  // start rather than popped at each end.
  std::vector<Opened> opened;
  Opened last_key = Opened::other;  // what the last key read would open
  // The callback sees every value's depth; refusing the deep one and flagging it keeps
  // the parse itself iterative and bounded.
  const nlohmann::json::parser_callback_t limit = [&](int depth, Event event, nlohmann::json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    if (prune != JsonPrune::none) {
      const auto level = static_cast<std::size_t>(depth);
      if (event == Event::object_start || event == Event::array_start) {
        const bool root = level == 0;
        const bool in_items = level < opened.size() && opened[level] == Opened::items;
        Opened opener = last_key;
        if (event == Event::object_start && (root || in_items)) opener = Opened::object;
        // Only an object is metadata or a status; only an array is a list's items.
        if ((opener == Opened::items) != (event == Event::array_start)) opener = Opened::other;
        opened.resize(level + 2);
        opened[level + 1] = opener;
        last_key = Opened::other;
      } else if (event == Event::key) {
        const auto& key = parsed.get_ref<const std::string&>();
        if (level < opened.size() && pruned(prune, opened[level], key)) return false;
        last_key = opened_by(key);
      } else {
        last_key = Opened::other;  // a scalar value, or an end
      }
    }
    return !too_deep;
  };
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), limit, /*allow_exceptions=*/false);
  if (too_deep) {
    return local_error(ErrorKind::bad_response,
                       std::string(what) + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (j.is_discarded()) {
    return local_error(ErrorKind::bad_response, std::string(what) + ": invalid JSON");
  }
  return j;
}

std::string json_type_name(const nlohmann::json& j) {
  if (j.is_number_integer() || j.is_number_unsigned()) return "integer";
  return j.type_name();
}

Error bad_field(std::string_view path, std::string_view expected, const nlohmann::json& got) {
  return local_error(ErrorKind::bad_response,
                     std::string(path) + ": expected " + std::string(expected) + ", got " + json_type_name(got));
}

namespace {
// nullptr when absent or null.
const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

template <class Int>
Result<std::optional<Int>> opt_integer(const nlohmann::json& obj, const char* key, std::string_view path,
                                       std::string_view expected) {
  const nlohmann::json* v = member(obj, key);
  if (v == nullptr) return std::optional<Int>{};
  // A float (even 15.0) is refused, as Go's decoder refuses it for an int32 field.
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return std::optional<Int>{static_cast<Int>(u)};
  } else if (v->is_number_integer()) {
    const auto s = v->get<std::int64_t>();
    if (s >= std::numeric_limits<Int>::min() && s <= std::numeric_limits<Int>::max()) {
      return std::optional<Int>{static_cast<Int>(s)};
    }
  }
  return bad_field(path, expected, *v);
}
}  // namespace

Result<std::optional<std::string>> opt_string(const nlohmann::json& obj, const char* key, std::string_view path) {
  const nlohmann::json* v = member(obj, key);
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->is_string()) return bad_field(path, "string", *v);
  return std::optional<std::string>{v->get<std::string>()};
}

Result<std::optional<int>> opt_int32(const nlohmann::json& obj, const char* key, std::string_view path) {
  return opt_integer<int>(obj, key, path, "32-bit integer");
}

Result<std::optional<std::int64_t>> opt_int64(const nlohmann::json& obj, const char* key, std::string_view path) {
  return opt_integer<std::int64_t>(obj, key, path, "64-bit integer");
}

Result<const nlohmann::json*> opt_object(const nlohmann::json& obj, const char* key, std::string_view path) {
  const nlohmann::json* v = member(obj, key);
  if (v == nullptr) return static_cast<const nlohmann::json*>(nullptr);
  if (!v->is_object()) return bad_field(path, "object", *v);
  return v;
}

}  // namespace kle::api
