#include <string>

#include <catch2/catch.hpp>

#include <kle/api/lease.hpp>

using kle::api::ErrorKind;
using kle::api::Lease;
using kle::api::lease_from_json;
using kle::api::lease_to_json;
using kle::api::parse_lease;
using kle::api::parse_micro_time;
using nlohmann::json;

namespace {
// What the apiserver returns for a Lease another client (kubectl, a newer API) decorated.
const char* kServerLease = R"({
  "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
  "metadata": {
    "name": "demo", "namespace": "ns", "uid": "0b0e6a4c-1111-2222-3333-444455556666",
    "resourceVersion": "4711", "creationTimestamp": "2026-11-24T19:00:00Z",
    "labels": {"app": "x"}, "annotations": {"note": "keep me"},
    "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u-1"}],
    "managedFields": [{"manager": "kubectl", "operation": "Update"}]
  },
  "spec": {
    "holderIdentity": "pod-a", "leaseDurationSeconds": 15,
    "acquireTime": "2026-11-24T19:00:00.000001Z", "renewTime": "2026-11-24T19:37:30.123456Z",
    "leaseTransitions": 3, "preferredHolder": "pod-b", "strategy": "OldestEmulationVersion",
    "futureField": {"nested": [1, 2, 3]}
  },
  "futureTopLevel": true
})";
}  // namespace

TEST_CASE("a server Lease decodes into typed fields") {
  const auto r = parse_lease(kServerLease);
  REQUIRE(r.ok());
  const Lease& l = *r;
  CHECK(l.name == "demo");
  CHECK(l.namespace_ == "ns");
  CHECK(l.resource_version == "4711");
  CHECK(l.uid == "0b0e6a4c-1111-2222-3333-444455556666");
  CHECK(l.spec.holder_identity == "pod-a");
  CHECK(l.spec.lease_duration_seconds == 15);
  CHECK(l.spec.acquire_time == parse_micro_time("2026-11-24T19:00:00.000001Z"));
  CHECK(l.spec.renew_time == parse_micro_time("2026-11-24T19:37:30.123456Z"));
  CHECK(l.spec.lease_transitions == 3);
  // raw() keeps the rest: not the typed fields, apiVersion/kind, nor what the server keeps
  // itself on update (managedFields, creationTimestamp).
  const json rest = json::parse(R"({
    "metadata": {
      "labels": {"app": "x"}, "annotations": {"note": "keep me"},
      "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u-1"}]
    },
    "spec": {"preferredHolder": "pod-b", "strategy": "OldestEmulationVersion", "futureField": {"nested": [1, 2, 3]}},
    "futureTopLevel": true
  })");
  CHECK(l.raw() == rest);
}

TEST_CASE("a Lease with nothing we do not model holds no rest object") {
  const auto r = parse_lease(R"({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
    "metadata": {"name": "plain", "namespace": "ns", "uid": "u-9", "resourceVersion": "7",
                 "creationTimestamp": "2026-11-24T19:00:00Z", "managedFields": [{"manager": "x"}]},
    "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "acquireTime": "2026-11-24T19:00:00.000001Z",
             "renewTime": "2026-11-24T19:00:00.000001Z", "leaseTransitions": 0}})");
  REQUIRE(r.ok());
  CHECK(r->raw() == json::object());
  CHECK(&r->raw() == &Lease{}.raw());  // the shared empty object: nothing allocated for it
  // Written back, it is the whole Lease again, but for what the server keeps itself.
  const json out = lease_to_json(*r);
  CHECK(out["apiVersion"] == "coordination.k8s.io/v1");
  CHECK(out["kind"] == "Lease");
  CHECK(out["metadata"] == json{{"name", "plain"}, {"namespace", "ns"}, {"uid", "u-9"}, {"resourceVersion", "7"}});
  CHECK(out["spec"]["holderIdentity"] == "pod-a");
  CHECK(out["spec"]["renewTime"] == "2026-11-24T19:00:00.000001Z");
}

TEST_CASE("an update keeps every field we do not own and overwrites the ones we do") {
  Lease l = parse_lease(kServerLease).value();
  l.spec.holder_identity = "pod-c";
  l.spec.lease_transitions = 4;
  l.spec.renew_time = parse_micro_time("2026-11-24T19:40:00.5Z");
  l.spec.acquire_time.reset();  // absent optionals are removed, not kept from raw
  const json out = lease_to_json(l);

  json expected = json::parse(kServerLease);
  expected["spec"]["holderIdentity"] = "pod-c";
  expected["spec"]["leaseTransitions"] = 4;
  expected["spec"]["renewTime"] = "2026-11-24T19:40:00.500000Z";
  expected["spec"].erase("acquireTime");
  // Not sent back: an update without managedFields keeps the live object's, and the server
  // restores creationTimestamp on every update.
  expected["metadata"].erase("managedFields");
  expected["metadata"].erase("creationTimestamp");
  CHECK(out == expected);  // labels, annotations, ownerReferences, preferredHolder, strategy, unknown fields
}

TEST_CASE("a fresh Lease is written exactly as client-go writes it") {
  Lease l;
  l.name = "demo";
  l.namespace_ = "ns";
  l.spec.holder_identity = "pod-a";
  l.spec.lease_duration_seconds = 15;
  l.spec.acquire_time = parse_micro_time("2026-11-24T19:37:30.123456Z");
  l.spec.renew_time = parse_micro_time("2026-11-24T19:37:30.123456Z");
  l.spec.lease_transitions = 0;
  const json expected = json::parse(R"({
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "demo", "namespace": "ns"},
    "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15,
             "acquireTime": "2026-11-24T19:37:30.123456Z", "renewTime": "2026-11-24T19:37:30.123456Z",
             "leaseTransitions": 0}})");
  CHECK(lease_to_json(l) == expected);  // no resourceVersion on create, no uid

  SECTION("all optionals absent: an empty spec") {
    Lease bare;
    bare.name = "n";
    bare.namespace_ = "ns";
    bare.resource_version = "9";
    CHECK(lease_to_json(bare).dump() ==
          R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n","namespace":"ns","resourceVersion":"9"},"spec":{}})");
  }
}

TEST_CASE("a release keeps holderIdentity present as the empty string") {
  Lease l = parse_lease(kServerLease).value();
  l.spec.holder_identity = "";
  l.spec.lease_duration_seconds = 1;
  const json out = lease_to_json(l);
  REQUIRE(out["spec"].contains("holderIdentity"));
  CHECK(out["spec"]["holderIdentity"] == "");
  CHECK(out["spec"]["leaseDurationSeconds"] == 1);
  CHECK(out["metadata"]["resourceVersion"] == "4711");  // the release is conditional too
  // And it reads back as an empty-but-present holder, distinct from an absent one.
  const Lease back = lease_from_json(out).value();
  CHECK(back.spec.holder_identity == std::optional<std::string>(""));
}

TEST_CASE("Lease JSON round-trips through text") {
  Lease l;
  l.name = "rt";
  l.namespace_ = "kube-system";
  l.resource_version = "12";
  l.uid = "u";
  l.spec.holder_identity = "me";
  l.spec.lease_duration_seconds = 2147483647;
  l.spec.renew_time = parse_micro_time("2026-01-01T00:00:00.000001Z");
  l.spec.lease_transitions = 0;
  const Lease back = parse_lease(lease_to_json(l).dump()).value();
  CHECK(back.name == l.name);
  CHECK(back.namespace_ == l.namespace_);
  CHECK(back.resource_version == l.resource_version);
  CHECK(back.uid == l.uid);
  CHECK(back.spec == l.spec);
  CHECK(lease_to_json(back) == lease_to_json(l));
}

TEST_CASE("null and missing spec fields decode as absent") {
  const auto r = parse_lease(
      R"({"metadata":{"name":"a","namespace":"b"},"spec":{"holderIdentity":null,"renewTime":null}})");
  REQUIRE(r.ok());
  CHECK_FALSE(r->spec.holder_identity.has_value());
  CHECK_FALSE(r->spec.renew_time.has_value());
  CHECK(r->resource_version.empty());
  const auto no_spec = parse_lease(R"({"metadata":{"name":"a"}})");
  REQUIRE(no_spec.ok());
  CHECK(no_spec->spec == kle::api::LeaseSpec{});
}

TEST_CASE("wrongly typed fields are bad_response errors naming the field") {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"metadata":{"name":"a"},"spec":{"holderIdentity":42}})", "spec.holderIdentity"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseDurationSeconds":"15"}})", "spec.leaseDurationSeconds"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseDurationSeconds":15.0}})", "spec.leaseDurationSeconds"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseDurationSeconds":2147483648}})", "spec.leaseDurationSeconds"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseDurationSeconds":true}})", "spec.leaseDurationSeconds"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseTransitions":-2147483649}})", "spec.leaseTransitions"},
      {R"({"metadata":{"name":"a"},"spec":{"leaseTransitions":[1]}})", "spec.leaseTransitions"},
      {R"({"metadata":{"name":"a"},"spec":{"renewTime":1732476000}})", "spec.renewTime"},
      {R"({"metadata":{"name":"a"},"spec":{"renewTime":"yesterday"}})", "spec.renewTime"},
      {R"({"metadata":{"name":"a"},"spec":{"acquireTime":"2026-11-24T19:37:30"}})", "spec.acquireTime"},
      {R"({"metadata":{"name":"a"},"spec":"oops"})", "spec"},
      {R"({"metadata":{"name":7}})", "metadata.name"},
      {R"({"metadata":{"name":"a","namespace":{}}})", "metadata.namespace"},
      {R"({"metadata":{"name":"a","resourceVersion":4711}})", "metadata.resourceVersion"},
      {R"({"metadata":{"name":"a","uid":false}})", "metadata.uid"},
      {R"({"metadata":[]})", "metadata"},
      {R"({"spec":{}})", "metadata"},
      {R"({"kind":1,"metadata":{"name":"a"}})", "kind"},
      {R"([])", "(root)"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    const auto r = parse_lease(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::bad_response);
    CHECK_THAT(r.error().message, Catch::Contains(c.field));
  }
}

TEST_CASE("a body that is not a Lease at all is refused") {
  const auto status = parse_lease(R"({"kind":"Status","status":"Failure","code":500})");
  REQUIRE_FALSE(status.ok());
  CHECK_THAT(status.error().message, Catch::Contains("expected kind Lease"));
  const auto truncated = parse_lease(R"({"kind":"Lease","metadata":{"name":)");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error().kind == ErrorKind::bad_response);
  CHECK(truncated.error().message == "Lease: invalid JSON");
  CHECK_FALSE(parse_lease("").ok());
}

TEST_CASE("a non-object raw is replaced, not trusted") {
  Lease l;
  l.name = "a";
  l.namespace_ = "b";
  l.set_raw(json::array({1, 2}));
  const json out = lease_to_json(l);
  CHECK(out.is_object());
  CHECK(out["metadata"]["name"] == "a");
  l.set_raw(json{{"metadata", "x"}, {"spec", 5}});
  const json out2 = lease_to_json(l);
  CHECK(out2["metadata"].is_object());
  CHECK(out2["spec"].is_object());
}

TEST_CASE("copies of a Lease share the decoded object until one of them edits it") {
  const Lease read = parse_lease(kServerLease).value();
  Lease copy = read;
  CHECK(&copy.raw() == &read.raw());  // a copy costs a reference, not a second object

  kle::api::set_lease_annotation(copy, "kube-leader-elector.io/preferred-holder", "pod-z");
  CHECK(&copy.raw() != &read.raw());
  CHECK(kle::api::lease_annotation(copy, "kube-leader-elector.io/preferred-holder") == "pod-z");
  CHECK_FALSE(kle::api::lease_annotation(read, "kube-leader-elector.io/preferred-holder").has_value());
  CHECK(kle::api::lease_annotation(read, "note") == "keep me");

  Lease blank;  // never read: an empty object, and editing it touches no one else
  CHECK(blank.raw() == json::object());
  blank.edit_raw()["metadata"] = json{{"labels", {{"a", "b"}}}};
  CHECK(Lease{}.raw() == json::object());
  CHECK(lease_to_json(blank)["metadata"]["labels"]["a"] == "b");
}
