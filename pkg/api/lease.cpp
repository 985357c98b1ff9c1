#include <kle/api/lease.hpp>

#include <initializer_list>

#include <kle/api/json.hpp>

namespace kle::api {
namespace {

// Wraps a field error so the message says which object it came from.
Error in_lease(Error e) {
  e.message = "Lease " + e.message;
  return e;
}

Result<std::optional<MicroTime>> opt_micro_time(const nlohmann::json& spec, const char* key, std::string_view path) {
  auto text = opt_string(spec, key, path);
  if (!text.ok()) return std::move(text).error();
  if (!text->has_value()) return std::optional<MicroTime>{};
  const auto t = parse_micro_time(**text);
  if (!t) {
    return local_error(ErrorKind::bad_response,
                       std::string(path) + ": not an RFC 3339 time: \"" + (*text)->substr(0, 64) + "\"");
  }
  return std::optional<MicroTime>{*t};
}

Result<LeaseSpec> spec_from_json(const nlohmann::json& spec) {
  LeaseSpec s;
  auto holder = opt_string(spec, "holderIdentity", "spec.holderIdentity");
  if (!holder.ok()) return std::move(holder).error();
  auto duration = opt_int32(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds");
  if (!duration.ok()) return std::move(duration).error();
  auto acquire = opt_micro_time(spec, "acquireTime", "spec.acquireTime");
  if (!acquire.ok()) return std::move(acquire).error();
  auto renew = opt_micro_time(spec, "renewTime", "spec.renewTime");
  if (!renew.ok()) return std::move(renew).error();
  auto transitions = opt_int32(spec, "leaseTransitions", "spec.leaseTransitions");
  if (!transitions.ok()) return std::move(transitions).error();
  s.holder_identity = std::move(*holder);
  s.lease_duration_seconds = *duration;
  s.acquire_time = *acquire;
  s.renew_time = *renew;
  s.lease_transitions = *transitions;
  return s;
}

// Sets `key` when the optional holds a value and removes it otherwise: absent optionals
// are omitted, exactly as client-go's `omitempty` pointers are.
template <class T, class Conv>
void put_or_erase(nlohmann::json& obj, const char* key, const std::optional<T>& v, Conv conv) {
  if (v) {
    obj[key] = conv(*v);
  } else {
    obj.erase(key);
  }
}

}  // namespace

Result<Lease> lease_from_json(const nlohmann::json& j) { return lease_from_json(nlohmann::json(j)); }

Result<Lease> lease_from_json(nlohmann::json&& j) {
  if (!j.is_object()) return in_lease(bad_field("(root)", "object", j));
  auto kind = opt_string(j, "kind", "kind");
  if (!kind.ok()) return in_lease(std::move(kind).error());
  if (kind->has_value() && **kind != "Lease") {
    return local_error(ErrorKind::bad_response, "expected kind Lease, got \"" + (*kind)->substr(0, 64) + "\"");
  }
  auto meta = opt_object(j, "metadata", "metadata");
  if (!meta.ok()) return in_lease(std::move(meta).error());
  if (*meta == nullptr) return local_error(ErrorKind::bad_response, "Lease metadata: missing");
  const nlohmann::json& m = **meta;
  Lease lease;
  auto name = opt_string(m, "name", "metadata.name");
  if (!name.ok()) return in_lease(std::move(name).error());
  auto ns = opt_string(m, "namespace", "metadata.namespace");
  if (!ns.ok()) return in_lease(std::move(ns).error());
  auto rv = opt_string(m, "resourceVersion", "metadata.resourceVersion");
  if (!rv.ok()) return in_lease(std::move(rv).error());
  auto uid = opt_string(m, "uid", "metadata.uid");
  if (!uid.ok()) return in_lease(std::move(uid).error());
  lease.name = name->value_or("");
  lease.namespace_ = ns->value_or("");
  lease.resource_version = rv->value_or("");
  lease.uid = uid->value_or("");

  auto spec_obj = opt_object(j, "spec", "spec");
  if (!spec_obj.ok()) return in_lease(std::move(spec_obj).error());
  if (*spec_obj != nullptr) {
    auto spec = spec_from_json(**spec_obj);
    if (!spec.ok()) return in_lease(std::move(spec).error());
    lease.spec = std::move(*spec);
  }
  nlohmann::json raw = std::move(j);  // the typed fields above are copies: j is done with
  // raw keeps only what nothing else does (issue 14: a process of a thousand Leases holds a
  // thousand of these trees, and the typed fields were most of each). Not kept:
  // - what the typed members hold: lease_to_json writes it from them;
  // - apiVersion and kind: lease_to_json writes them;
  // - what the apiserver keeps itself on an update, so it need not be sent back:
  //   managedFields (its field manager reads an absent list as unchanged) and
  //   creationTimestamp (an update cannot change it; the server restores the stored one).
  raw.erase("apiVersion");
  raw.erase("kind");
  const auto drop = [&raw](const char* object, std::initializer_list<const char*> keys) {
    const auto it = raw.find(object);
    if (it == raw.end() || !it->is_object()) return;
    for (const char* key : keys) it->erase(key);
    if (it->empty()) raw.erase(it);
  };
  drop("metadata", {"name", "namespace", "resourceVersion", "uid", "managedFields", "creationTimestamp"});
  drop("spec", {"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions"});
  lease.set_raw(std::move(raw));
  return lease;
}

const nlohmann::json& Lease::raw() const noexcept {
  static const nlohmann::json empty = nlohmann::json::object();
  return raw_ ? *raw_ : empty;
}

nlohmann::json& Lease::edit_raw() {
  // Sole owner: edit in place. Shared: the other copies keep what they were given.
  if (!raw_ || raw_.use_count() > 1) raw_ = std::make_shared<nlohmann::json>(raw());
  return *raw_;
}

void Lease::set_raw(nlohmann::json object) {
  // An empty object is what raw() shows for none: no allocation for a Lease with no extras.
  if (object.is_object() && object.empty()) {
    raw_.reset();
  } else {
    raw_ = std::make_shared<nlohmann::json>(std::move(object));
  }
}

Result<Lease> parse_lease(std::string_view body) {
  auto j = parse_json(body, "Lease", JsonPrune::managed_fields);
  if (!j.ok()) return std::move(j).error();
  return lease_from_json(std::move(*j));
}

nlohmann::json lease_to_json(const Lease& lease) {
  // Start from what the server gave us so labels, annotations, ownerReferences,
  // spec.preferredHolder/strategy and fields newer than us survive an update.
  nlohmann::json j = lease.raw().is_object() ? lease.raw() : nlohmann::json::object();
  j["apiVersion"] = "coordination.k8s.io/v1";
  j["kind"] = "Lease";
  if (!j.contains("metadata") || !j["metadata"].is_object()) j["metadata"] = nlohmann::json::object();
  nlohmann::json& m = j["metadata"];
  m["name"] = lease.name;
  m["namespace"] = lease.namespace_;
  // An empty resourceVersion means "create": the server refuses a create that carries one.
  const auto non_empty = [](const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); };
  const auto same = [](const auto& v) { return v; };
  put_or_erase(m, "resourceVersion", non_empty(lease.resource_version), same);
  put_or_erase(m, "uid", non_empty(lease.uid), same);

  if (!j.contains("spec") || !j["spec"].is_object()) j["spec"] = nlohmann::json::object();
  nlohmann::json& s = j["spec"];
  const LeaseSpec& spec = lease.spec;
  // holderIdentity "" (a release) stays present as "", as client-go writes it.
  put_or_erase(s, "holderIdentity", spec.holder_identity, same);
  put_or_erase(s, "leaseDurationSeconds", spec.lease_duration_seconds, same);
  put_or_erase(s, "acquireTime", spec.acquire_time, format_micro_time);
  put_or_erase(s, "renewTime", spec.renew_time, format_micro_time);
  put_or_erase(s, "leaseTransitions", spec.lease_transitions, same);
  return j;
}

std::optional<std::string> lease_annotation(const Lease& lease, std::string_view key) {
  const nlohmann::json& raw = lease.raw();
  if (!raw.is_object()) return std::nullopt;
  const auto meta = raw.find("metadata");
  if (meta == raw.end() || !meta->is_object()) return std::nullopt;
  const auto annotations = meta->find("annotations");
  if (annotations == meta->end() || !annotations->is_object()) return std::nullopt;
  const auto value = annotations->find(std::string(key));
  if (value == annotations->end() || !value->is_string()) return std::nullopt;
  return value->get<std::string>();
}

void set_lease_annotation(Lease& lease, const std::string& key, const std::optional<std::string>& value) {
  nlohmann::json& raw = lease.edit_raw();
  if (!raw.is_object()) raw = nlohmann::json::object();
  nlohmann::json& meta = raw["metadata"];
  if (!meta.is_object()) meta = nlohmann::json::object();
  nlohmann::json& annotations = meta["annotations"];
  if (!annotations.is_object()) annotations = nlohmann::json::object();
  if (value) {
    annotations[key] = *value;
  } else {
    annotations.erase(key);
  }
  if (annotations.empty()) meta.erase("annotations");
}

}  // namespace kle::api
