#include <string>

#include <catch2/catch.hpp>

#include <kle/kube/config.hpp>
#include "test_config_support.hpp"

using kle::api::ErrorKind;
using kle::kube::discover_config;
using kle::kube::InClusterPaths;
using kle::kube::load_in_cluster;
using kle::test::EnvGuard;
using kle::test::ScratchDir;
using kle::test::testdata;

namespace {
const std::string kCa = "-----BEGIN CERTIFICATE-----\nZHVtbXk=\n-----END CERTIFICATE-----\n";

// A service-account directory as the kubelet projects it.
void write_service_account(const ScratchDir& dir, const std::string& ns = "team-a\n") {
  dir.write("token", "eyJhbGciOiJSUzI1NiJ9.payload.sig");
  dir.write("ca.crt", kCa);
  if (!ns.empty()) dir.write("namespace", ns);
}
}  // namespace

TEST_CASE("in-cluster: env plus service-account files") {
  EnvGuard env;
  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  const ScratchDir sa;
  write_service_account(sa);
  const auto r = load_in_cluster(InClusterPaths{sa.path()});
  REQUIRE(r.ok());
  CHECK(r->source == "in-cluster");
  CHECK(r->host == "10.96.0.1");
  CHECK(r->port == "443");
  CHECK(r->token.empty());  // never the token itself: it rotates and is re-read
  CHECK(r->token_file == sa.path("token"));
  CHECK(r->tls.ca_file == sa.path("ca.crt"));
  CHECK(r->tls.ca_pem == kCa);
  CHECK(r->namespace_ == "team-a");
  CHECK(kle::kube::in_cluster_namespace(InClusterPaths{sa.path()}) == "team-a");
}

TEST_CASE("in-cluster: an IPv6 service host is kept without brackets") {
  EnvGuard env;
  env.set("KUBERNETES_SERVICE_PORT", "6443");
  const ScratchDir sa;
  write_service_account(sa, "");
  for (const char* host : {"fd00:10:96::1", "[fd00:10:96::1]"}) {
    env.set("KUBERNETES_SERVICE_HOST", host);
    const auto r = load_in_cluster(InClusterPaths{sa.path()});
    REQUIRE(r.ok());
    CHECK(r->host == "fd00:10:96::1");
    CHECK(r->port == "6443");
    CHECK(r->namespace_.empty());  // no namespace file: empty, not an error
  }
}

TEST_CASE("in-cluster: what is missing is named") {
  EnvGuard env;
  const ScratchDir sa;
  write_service_account(sa);
  const InClusterPaths paths{sa.path()};
  const auto message = [&paths] {
    const auto r = load_in_cluster(paths);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::config);
    return r.error().message;
  };
  env.unset("KUBERNETES_SERVICE_HOST");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  CHECK(message() == "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set");
  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.set("KUBERNETES_SERVICE_PORT", "");
  CHECK(message() == "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set");
  env.set("KUBERNETES_SERVICE_PORT", "https");
  CHECK(message() == "in-cluster: KUBERNETES_SERVICE_PORT: not a port number: \"https\"");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  sa.write("token", " \n");
  CHECK(message() == "in-cluster: service-account token: " + sa.path("token") + " is empty");
  std::filesystem::remove(sa.path("token"));
  CHECK(message() == "in-cluster: service-account token: cannot read " + sa.path("token") + ": No such file or directory");
  sa.write("token", "t");
  sa.write("ca.crt", "not a certificate");
  CHECK(message() == "in-cluster: service-account CA: " + sa.path("ca.crt") + " holds no PEM certificate");
  std::filesystem::remove(sa.path("ca.crt"));
  CHECK(message() == "in-cluster: service-account CA: cannot read " + sa.path("ca.crt") + ": No such file or directory");
}

namespace {
std::string simple_kubeconfig(const std::string& server) {
  return "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: " + server +
         "\ncontexts:\n- name: x\n  context:\n    cluster: c\n";
}
}  // namespace

TEST_CASE("discovery order: flag, $KUBECONFIG, in-cluster, ~/.kube/config, none") {
  EnvGuard env;
  const ScratchDir home;
  const ScratchDir sa;
  write_service_account(sa);
  const InClusterPaths paths{sa.path()};
  const std::string fixture = testdata("kubeconfig.yaml");
  // Start from nothing configured at all.
  env.unset("KUBECONFIG");
  env.unset("KUBERNETES_SERVICE_HOST");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  env.set("HOME", home.path());
  const auto source = [&paths](const std::string& flag, const std::string& ctx = {}) -> std::string {
    auto r = discover_config(flag, ctx, paths);
    if (!r.ok()) return "error: " + r.error().message;
    return r->has_value() ? (*r)->source + " " + (*r)->host : "none";
  };

  CHECK(source("") == "none");  // standalone mode
  CHECK(source("", "dev") == "error: context \"dev\" requested but no kubeconfig was found");

  home.write(".kube/config", simple_kubeconfig("https://home.example"));
  CHECK(source("") == home.path(".kube/config") + " home.example");

  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  CHECK(source("") == "in-cluster 10.96.0.1");  // in-cluster beats ~/.kube/config

  env.set("KUBECONFIG", fixture);
  CHECK(source("") == fixture + " 127.0.0.1");  // $KUBECONFIG beats in-cluster
  CHECK(source("", "prod") == fixture + " ::1");  // and the context applies to it

  const ScratchDir other;
  const std::string flag = other.write("flag-config", simple_kubeconfig("https://flag.example:6443"));
  CHECK(source(flag) == flag + " flag.example");  // the flag beats everything
}

TEST_CASE("discovery: $KUBECONFIG lists are not merged - the first existing file is used") {
  EnvGuard env;
  const ScratchDir dir;
  const std::string a = dir.write("a", simple_kubeconfig("https://a.example"));
  const std::string b = dir.write("b", simple_kubeconfig("https://b.example"));
  const auto host = [] {
    auto r = discover_config("", "", InClusterPaths{"/nonexistent"});
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    return (*r)->host;
  };
  env.set("KUBECONFIG", a + ":" + b);
  CHECK(host() == "a.example");
  env.set("KUBECONFIG", "::" + dir.path("missing") + ":" + b + ":" + a);
  CHECK(host() == "b.example");
  env.set("KUBECONFIG", dir.path("missing") + ":" + dir.path("gone"));
  const auto r = discover_config("", "", InClusterPaths{"/nonexistent"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "KUBECONFIG=" + dir.path("missing") + ":" + dir.path("gone") + ": no listed file exists");
}

TEST_CASE("discovery: a named but broken source is an error, never a fall-through") {
  EnvGuard env;
  const ScratchDir dir;
  const ScratchDir home;
  env.set("HOME", home.path());
  home.write(".kube/config", simple_kubeconfig("https://home.example"));
  env.unset("KUBECONFIG");
  env.unset("KUBERNETES_SERVICE_HOST");

  const auto flag = discover_config(dir.path("missing"), "", InClusterPaths{dir.path()});
  REQUIRE_FALSE(flag.ok());
  CHECK(flag.error().message == "kubeconfig: cannot read " + dir.path("missing") + ": No such file or directory");

  env.set("KUBECONFIG", dir.write("broken", simple_kubeconfig("http://insecure")));
  const auto from_env = discover_config("", "", InClusterPaths{dir.path()});
  REQUIRE_FALSE(from_env.ok());
  CHECK_THAT(from_env.error().message, Catch::Contains("plain http://"));

  env.unset("KUBECONFIG");
  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  const auto in_cluster = discover_config("", "", InClusterPaths{dir.path()});  // no token there
  REQUIRE_FALSE(in_cluster.ok());
  CHECK_THAT(in_cluster.error().message, Catch::StartsWith("in-cluster: service-account token: cannot read"));
}
