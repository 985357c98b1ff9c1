#include <kle/api/json.hpp>

#include <limits>
#include <vector>

namespace kle::api {

Result<nlohmann::json> parse_json(std::string_view body, std::string_view what, JsonPrune prune) {
  using Event = nlohmann::json::parse_event_t;
  bool too_deep = false;
  // in_metadata[L]: the container at level L is the value of a key "metadata". nlohmann
  // reports a container's start at the level of its parent, and the keys inside it one
  // level deeper; it reports no end for containers inside a discarded value, so the
  // stack is cut at each start rather than popped at each end.
  std::vector<char> in_metadata;
  bool metadata_key = false;  // the last key read was "metadata"
  // The callback sees every value's depth; refusing the deep one and flagging it keeps
  // the parse itself iterative and bounded.
  const nlohmann::json::parser_callback_t limit = [&](int depth, Event event, nlohmann::json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    if (prune == JsonPrune::managed_fields) {
      const auto level = static_cast<std::size_t>(depth);
      if (event == Event::object_start || event == Event::array_start) {
        in_metadata.resize(level + 2);
        in_metadata[level + 1] = static_cast<char>(event == Event::object_start && metadata_key);
        metadata_key = false;
      } else if (event == Event::key) {
        const auto& key = parsed.get_ref<const std::string&>();
        // Refusing a key discards its value, which is then never built.
        if (key == "managedFields" && level < in_metadata.size() && in_metadata[level] != 0) return false;
        metadata_key = key == "metadata";
      } else {
        metadata_key = false;  // a scalar value, or an end
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
