#include <string>

#include <catch2/catch.hpp>

#include <kle/api/pod.hpp>

using kle::api::ErrorKind;
using kle::api::label_merge_patch;
using kle::api::parse_pod;
using kle::api::parse_pod_list;

namespace {
const char* kPod = R"({
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {"name": "web-0", "namespace": "ns", "uid": "u-0", "resourceVersion": "88",
               "labels": {"app": "web", "leader-elector/leader": "true"}},
  "spec": {"containers": [{"name": "c", "image": "x"}]},
  "status": {"phase": "Running", "podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}]}
})";
}  // namespace

TEST_CASE("a Pod decodes identity, labels, phase and IP") {
  const auto r = parse_pod(kPod);
  REQUIRE(r.ok());
  CHECK(r->name == "web-0");
  CHECK(r->namespace_ == "ns");
  CHECK(r->uid == "u-0");
  CHECK(r->resource_version == "88");
  CHECK(r->labels == std::map<std::string, std::string>{{"app", "web"}, {"leader-elector/leader", "true"}});
  CHECK(r->phase == "Running");
  CHECK(r->pod_ip == "10.1.2.3");
}

TEST_CASE("a pending Pod without status or labels decodes with empty fields") {
  const auto r = parse_pod(R"({"metadata":{"name":"p","namespace":"ns"}})");
  REQUIRE(r.ok());
  CHECK(r->labels.empty());
  CHECK(r->phase.empty());
  CHECK(r->pod_ip.empty());
}

TEST_CASE("wrongly typed Pod fields are bad_response errors naming the field") {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"metadata":{"name":"p","labels":{"a":1}}})", R"(metadata.labels["a"])"},
      {R"({"metadata":{"name":"p","labels":["a"]}})", "metadata.labels"},
      {R"({"metadata":{"name":["p"]}})", "metadata.name"},
      {R"({"metadata":{"name":"p"},"status":{"podIP":10}})", "status.podIP"},
      {R"({"metadata":{"name":"p"},"status":{"phase":{}}})", "status.phase"},
      {R"({"metadata":{"name":"p"},"status":"Running"})", "status"},
      {R"({"status":{}})", "metadata"},
      {R"("pod")", "(root)"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    const auto r = parse_pod(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::bad_response);
    CHECK_THAT(r.error().message, Catch::Contains(c.field));
  }
  CHECK(parse_pod("{").error().message == "Pod: invalid JSON");
}

TEST_CASE("a PodList decodes its items and resourceVersion") {
  const std::string body = std::string(R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"900"},"items":[)") +
                           kPod + R"(,{"metadata":{"name":"web-1","namespace":"ns","labels":{"app":"web"}}}]})";
  const auto r = parse_pod_list(body);
  REQUIRE(r.ok());
  CHECK(r->resource_version == "900");
  REQUIRE(r->items.size() == 2);
  CHECK(r->items[0].name == "web-0");
  CHECK(r->items[1].name == "web-1");
  CHECK(r->items[1].labels.at("app") == "web");
}

TEST_CASE("an empty PodList may carry items null or no items at all") {
  CHECK(parse_pod_list(R"({"kind":"PodList","metadata":{"resourceVersion":"1"},"items":[]})")->items.empty());
  CHECK(parse_pod_list(R"({"kind":"PodList","metadata":{"resourceVersion":"1"},"items":null})")->items.empty());
  CHECK(parse_pod_list(R"({"kind":"PodList"})")->resource_version.empty());
}

TEST_CASE("a bad PodList item names its index") {
  const auto r = parse_pod_list(R"({"items":[{"metadata":{"name":"ok"}},{"metadata":{"name":"p","labels":{"x":false}}}]})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::bad_response);
  CHECK_THAT(r.error().message, Catch::Contains("items[1]") && Catch::Contains(R"(metadata.labels["x"])"));
  CHECK_THAT(parse_pod_list(R"({"items":{}})").error().message, Catch::Contains("items"));
  CHECK_THAT(parse_pod_list(R"({"metadata":{"resourceVersion":1}})").error().message,
             Catch::Contains("metadata.resourceVersion"));
  CHECK_FALSE(parse_pod_list("[]").ok());
}

TEST_CASE("label_merge_patch sets and removes labels in one merge patch") {
  CHECK(label_merge_patch({{"leader-elector/leader", "true"}, {"gone", std::nullopt}}) ==
        R"({"metadata":{"labels":{"gone":null,"leader-elector/leader":"true"}}})");
  CHECK(label_merge_patch({{"k", "v"}}) == R"({"metadata":{"labels":{"k":"v"}}})");
  CHECK(label_merge_patch({}) == R"({"metadata":{"labels":{}}})");
  // Values with quotes and non-ASCII are escaped correctly, never spliced in as text.
  CHECK(label_merge_patch({{"a\"b", "c\\d"}}) == R"({"metadata":{"labels":{"a\"b":"c\\d"}}})");
  CHECK(nlohmann::json::parse(label_merge_patch({{"x", ""}}))["metadata"]["labels"]["x"] == "");
}

TEST_CASE("a kubelet's Pod decodes the same without the parts the decoder never reads") {
  // What the decoders leave out (JsonPrune::pod) holds nothing they read: the same
  // fields come out, and a malformed part they leave out (spec) is no error.
  const char* full = R"({"kind":"Pod","apiVersion":"v1",
    "metadata":{"name":"web-1","namespace":"ns","uid":"u-1","resourceVersion":"90",
      "creationTimestamp":"2026-12-01T10:00:00Z","deletionTimestamp":"2026-12-01T10:05:00Z",
      "labels":{"app":"web","spec":"kept"},"annotations":{"x":"y"},
      "ownerReferences":[{"kind":"ReplicaSet","name":"web","uid":"r"}],
      "managedFields":[{"manager":"kubelet","operation":"Update","fieldsV1":{"f:status":{}}}]},
    "spec":{"containers":[{"name":"c","image":"x"}],"nodeName":"n1"},
    "status":{"phase":"Running","podIP":"10.1.2.4",
      "conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True"}],
      "containerStatuses":[{"name":"c","ready":true,"restartCount":0}]}})";
  const auto r = parse_pod(full);
  REQUIRE(r.ok());
  CHECK(r->name == "web-1");
  CHECK(r->uid == "u-1");
  CHECK(r->resource_version == "90");
  CHECK(r->labels == std::map<std::string, std::string>{{"app", "web"}, {"spec", "kept"}});
  CHECK(r->creation_timestamp == "2026-12-01T10:00:00Z");
  CHECK(r->deleting);
  CHECK(r->phase == "Running");
  CHECK(r->pod_ip == "10.1.2.4");
  CHECK(r->ready);
  CHECK(parse_pod(R"({"metadata":{"name":"p"},"spec":5,"status":{"phase":"Pending"}})").ok());
  const auto list = parse_pod_list(std::string(R"({"metadata":{"resourceVersion":"91"},"items":[)") + full + "]}");
  REQUIRE(list.ok());
  REQUIRE(list->items.size() == 1);
  CHECK(list->items[0].labels == r->labels);
  CHECK(list->items[0].ready);
}
