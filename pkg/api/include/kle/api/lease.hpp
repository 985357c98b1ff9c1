#pragma once
// coordination.k8s.io/v1 Lease and its JSON form. Fields of an object read from the server
// that we do not model are kept in `raw()` and written back on update, so we never drop what
// another client (or a newer API) put there.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <kle/api/microtime.hpp>
#include <kle/api/result.hpp>

namespace kle::api {

struct LeaseSpec {
  std::optional<std::string> holder_identity;
  std::optional<int> lease_duration_seconds;
  std::optional<MicroTime> acquire_time;
  std::optional<MicroTime> renew_time;
  std::optional<int> lease_transitions;
  bool operator==(const LeaseSpec&) const = default;
};

struct Lease {
  std::string name;
  std::string namespace_;
  std::string resource_version;  // empty for an object not yet created
  std::string uid;
  LeaseSpec spec;

  // The rest of the object as last read: every field that neither a member above holds nor
  // lease_to_json writes (apiVersion, kind), less what the apiserver keeps itself on update
  // (metadata.managedFields, metadata.creationTimestamp); {} when nothing is left, as for a
  // Lease the server decorated with nothing. Labels, annotations, ownerReferences, other spec
  // fields and fields newer than us are here, and lease_to_json writes them back.
  // A Lease is copied on its way from a watch event to an elector (the shared watch's cache,
  // the event, the machine's last observation), and a process of a thousand Leases holds two
  // of each: the rest is shared by the copies and copied only when one of them edits it (issue 14).
  [[nodiscard]] const nlohmann::json& raw() const noexcept;
  nlohmann::json& edit_raw();  // this copy's own object, to change
  void set_raw(nlohmann::json object);

 private:
  std::shared_ptr<nlohmann::json> raw_;  // null: an empty object; never changed while shared
};

// Decoding validates types: a Lease whose spec fields have the wrong JSON type is a
// bad_response error, never a crash or a silently defaulted value.
Result<Lease> lease_from_json(const nlohmann::json& j);
Result<Lease> lease_from_json(nlohmann::json&& j);  // takes the object over instead of copying it
Result<Lease> parse_lease(std::string_view body);
// Writes apiVersion/kind/metadata (name, namespace, resourceVersion when set) and the spec
// exactly as client-go does: absent optionals are omitted, times are MicroTime.
nlohmann::json lease_to_json(const Lease& lease);

// metadata.annotations live in `raw`, so lease_to_json writes them back as they are. A value
// that is not a string (a hand-edited object) reads as absent.
std::optional<std::string> lease_annotation(const Lease& lease, std::string_view key);
// Sets the annotation, or removes it for nullopt (an empty annotations map is dropped).
void set_lease_annotation(Lease& lease, const std::string& key, const std::optional<std::string>& value);

}  // namespace kle::api
