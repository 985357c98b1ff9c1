#include <string>

#include <catch2/catch.hpp>

#include <kle/api/json.hpp>
#include <kle/api/lease.hpp>

using kle::api::ErrorKind;
using kle::api::kMaxJsonDepth;
using kle::api::parse_json;

namespace {
std::string nested(int depth, char open, char close) {
  return std::string(static_cast<std::size_t>(depth), open) + std::string(static_cast<std::size_t>(depth), close);
}
}  // namespace

TEST_CASE("parse_json accepts documents up to the depth limit") {
  CHECK(parse_json(nested(kMaxJsonDepth, '[', ']'), "x").ok());
  const auto r = parse_json(R"({"a":[1,{"b":null}]})", "x");
  REQUIRE(r.ok());
  CHECK((*r)["a"][1].contains("b"));
}

TEST_CASE("parse_json refuses deeper documents without recursing") {
  for (const int depth : {kMaxJsonDepth + 1, 100000}) {
    const auto r = parse_json(nested(depth, '[', ']'), "Lease");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::bad_response);
    CHECK(r.error().message == "Lease: JSON nested deeper than 64 levels");
  }
  // The same through a decoder: a deep value hidden inside an unknown Lease field.
  std::string body = R"({"metadata":{"name":"a"},"x":)" + nested(200000, '[', ']') + "}";
  CHECK_FALSE(kle::api::parse_lease(body).ok());
}

TEST_CASE("parse_json reports invalid JSON as bad_response") {
  for (const char* s : {"", "{", "nul", "{\"a\":}", "[1,]", "{} {}"}) {
    INFO(s);
    const auto r = parse_json(s, "Pod");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "Pod: invalid JSON");
  }
}

TEST_CASE("typed accessors distinguish absent, null and wrongly typed") {
  const nlohmann::json j = nlohmann::json::parse(R"({"s":"v","n":null,"i":5,"u":4294967296,"f":1.5,"o":{}})");
  CHECK(kle::api::opt_string(j, "s", "s")->value() == "v");
  CHECK_FALSE(kle::api::opt_string(j, "n", "n")->has_value());
  CHECK_FALSE(kle::api::opt_string(j, "missing", "missing")->has_value());
  CHECK(kle::api::opt_string(j, "i", "path.i").error().message == "path.i: expected string, got integer");
  CHECK(kle::api::opt_int32(j, "i", "i")->value() == 5);
  CHECK_FALSE(kle::api::opt_int32(j, "u", "u").ok());
  CHECK(kle::api::opt_int64(j, "u", "u")->value() == 4294967296);
  CHECK(kle::api::opt_int32(j, "f", "f").error().message == "f: expected 32-bit integer, got number");
  CHECK(kle::api::opt_object(j, "o", "o").ok());
  CHECK(*kle::api::opt_object(j, "n", "n") == nullptr);
  CHECK_FALSE(kle::api::opt_object(j, "s", "s").ok());
}

TEST_CASE("parse_json with JsonPrune::managed_fields leaves out every metadata.managedFields and nothing else") {
  using kle::api::JsonPrune;
  const std::string mf = R"([{"manager":"m","fieldsV1":{"f:spec":{"f:holderIdentity":{}}}}])";
  // A watch event (the object one level down), a list (its items two levels down), and keys
  // named managedFields or metadata that are not the object's bookkeeping.
  const std::string body = R"({"type":"MODIFIED","object":{"metadata":{"name":"a","managedFields":)" + mf +
                           R"(,"labels":{"managedFields":"keep-label"},"annotations":{"metadata":"x"}},)"
                           R"("spec":{"managedFields":"keep-spec","metadata":[{"managedFields":"keep-in-array"}]}},)"
                           R"("items":[{"metadata":{"managedFields":)" + mf + R"(,"uid":"u"}},)"
                           R"({"metadata":{"managedFields":null}}],"managedFields":"keep-root"})";
  const auto r = parse_json(body, "x", JsonPrune::managed_fields);
  REQUIRE(r.ok());
  const auto& j = *r;
  CHECK_FALSE(j["object"]["metadata"].contains("managedFields"));
  CHECK(j["object"]["metadata"]["name"] == "a");
  CHECK(j["object"]["metadata"]["labels"]["managedFields"] == "keep-label");
  CHECK(j["object"]["metadata"]["annotations"]["metadata"] == "x");
  CHECK(j["object"]["spec"]["managedFields"] == "keep-spec");
  CHECK(j["object"]["spec"]["metadata"][0]["managedFields"] == "keep-in-array");
  CHECK_FALSE(j["items"][0]["metadata"].contains("managedFields"));
  CHECK(j["items"][0]["metadata"]["uid"] == "u");
  CHECK_FALSE(j["items"][1]["metadata"].contains("managedFields"));
  CHECK(j["managedFields"] == "keep-root");
  // Without pruning the same document is read whole.
  const auto whole = parse_json(body, "x");
  REQUIRE(whole.ok());
  CHECK((*whole)["object"]["metadata"]["managedFields"] == nlohmann::json::parse(mf));
  CHECK(*whole != j);
  // Pruning changes neither the depth limit nor the refusal of invalid JSON.
  CHECK_FALSE(parse_json(nested(kMaxJsonDepth + 1, '[', ']'), "x", JsonPrune::managed_fields).ok());
  CHECK_FALSE(parse_json(R"({"metadata":{"managedFields":[1,]}})", "x", JsonPrune::managed_fields).ok());
}

TEST_CASE("parse_json with JsonPrune::pod leaves out what no Pod decoder reads, and keeps what it reads") {
  using kle::api::JsonPrune;
  const std::string mf = R"([{"manager":"kubelet","fieldsV1":{"f:status":{"f:phase":{}}}}])";
  // A PodList whose item has everything a kubelet's Pod carries; labels, annotations and
  // statuses named like the pruned keys, where they must be kept.
  const std::string pod = R"({"metadata":{"name":"p","managedFields":)" + mf +
                          R"(,"annotations":{"a":"b"},"ownerReferences":[{"uid":"o"}],)"
                          R"("labels":{"spec":"l1","annotations":"l2","managedFields":"l3","containerStatuses":"l4"}},)"
                          R"("spec":{"containers":[{"name":"c"}],"metadata":{"name":"in-spec"}},)"
                          R"("status":{"phase":"Running","spec":"keep-status-spec","conditions":[{"type":"Ready","status":"True"}],)"
                          R"("containerStatuses":[{"name":"c"}],"initContainerStatuses":[],"ephemeralContainerStatuses":[]}})";
  const std::string body = R"({"metadata":{"resourceVersion":"9"},"items":[)" + pod + "]}";
  const auto r = parse_json(body, "x", JsonPrune::pod);
  REQUIRE(r.ok());
  const auto& item = (*r)["items"][0];
  CHECK((*r)["metadata"]["resourceVersion"] == "9");
  CHECK(item["metadata"]["name"] == "p");
  for (const char* gone : {"managedFields", "annotations", "ownerReferences"}) CHECK_FALSE(item["metadata"].contains(gone));
  CHECK(item["metadata"]["labels"] ==
        nlohmann::json{{"spec", "l1"}, {"annotations", "l2"}, {"managedFields", "l3"}, {"containerStatuses", "l4"}});
  CHECK_FALSE(item.contains("spec"));
  CHECK(item["status"]["phase"] == "Running");
  CHECK(item["status"]["spec"] == "keep-status-spec");
  CHECK(item["status"]["conditions"][0]["status"] == "True");
  for (const char* gone : {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"})
    CHECK_FALSE(item["status"].contains(gone));
  // The Pod itself (a PATCH's answer): the same rules at the root.
  const auto one = parse_json(pod, "x", JsonPrune::pod);
  REQUIRE(one.ok());
  CHECK(*one == item);
  // managed_fields mode is unchanged: it keeps the spec, the annotations and the statuses.
  const auto lease_rules = parse_json(pod, "x", JsonPrune::managed_fields);
  REQUIRE(lease_rules.ok());
  CHECK((*lease_rules)["spec"]["metadata"]["name"] == "in-spec");
  CHECK((*lease_rules)["metadata"].contains("annotations"));
  CHECK_FALSE((*lease_rules)["metadata"].contains("managedFields"));
  CHECK(parse_json(pod, "x")->dump().size() > lease_rules->dump().size());
}
