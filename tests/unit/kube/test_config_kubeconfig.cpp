#include <string>

#include <catch2/catch.hpp>

#include <kle/kube/config.hpp>
#include "kube/config_detail.hpp"
#include "test_config_support.hpp"

using kle::api::ErrorKind;
using kle::kube::load_kubeconfig;
using kle::test::ScratchDir;
using kle::test::testdata;

namespace {
const std::string kInlineCa = "-----BEGIN CERTIFICATE-----\ninline ca\n-----END CERTIFICATE-----\n";

// A minimal valid kubeconfig around one cluster body and one user body (YAML, indented 4).
std::string kubeconfig(const std::string& cluster, const std::string& user = "    token: t\n") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
         "clusters:\n- name: c\n  cluster:\n" + cluster +
         "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
         "users:\n- name: u\n  user:\n" + user;
}

// Loads `content` from a scratch file and returns the error message, failing if it loads.
std::string load_error(const std::string& content, const std::string& context = {}) {
  const ScratchDir dir;
  const std::string path = dir.write("config", content);
  const auto r = load_kubeconfig(path, context);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::config);
  const std::string prefix = "kubeconfig " + path + ": ";
  CHECK(r.error().message.rfind(prefix, 0) == 0);  // every message names the file
  return r.error().message.substr(prefix.size());
}
}  // namespace

TEST_CASE("kubeconfig: current-context with relative CA and client cert files") {
  const std::string path = testdata("kubeconfig.yaml");
  const auto r = load_kubeconfig(path);
  REQUIRE(r.ok());
  CHECK(r->source == path);
  CHECK(r->host == "127.0.0.1");
  CHECK(r->port == "6443");
  CHECK(r->namespace_ == "team-a");
  CHECK(r->tls.ca_file == testdata("ca.crt"));  // resolved against the kubeconfig's directory
  CHECK(r->tls.ca_pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
  CHECK(r->tls.client_cert_pem.find("ZHVtbXkgY2xpZW50IGNlcnQ=") != std::string::npos);
  CHECK(r->tls.client_key_pem.find("BEGIN PRIVATE KEY") != std::string::npos);
  CHECK(r->tls.server_name.empty());
  CHECK(r->token.empty());
  CHECK(r->token_file.empty());
}

TEST_CASE("kubeconfig: named context with IPv6 server, inline data and a token") {
  const auto r = load_kubeconfig(testdata("kubeconfig.yaml"), "prod");
  REQUIRE(r.ok());
  CHECK(r->host == "::1");
  CHECK(r->port == "8443");
  CHECK(r->tls.ca_pem == kInlineCa);
  CHECK(r->tls.ca_file.empty());  // inline data: nothing to re-read
  CHECK(r->tls.server_name == "kubernetes.default.svc");
  CHECK(r->tls.client_cert_pem == "inline cert");
  CHECK(r->tls.client_key_pem == "inline key");
  CHECK(r->token == "static-token-abc");
  CHECK(r->namespace_.empty());
}

TEST_CASE("kubeconfig: no CA (the system roots), default port 443 and a token file") {
  const auto r = load_kubeconfig(testdata("kubeconfig.yaml"), "lab");
  REQUIRE(r.ok());
  CHECK(r->host == "k8s.example.com");
  CHECK(r->port == "443");
  CHECK(r->tls.ca_pem.empty());
  CHECK(r->token.empty());
  CHECK(r->token_file == testdata("token"));
  CHECK(r->namespace_ == "lab");
}

TEST_CASE("kubeconfig: a context without a user is anonymous") {
  const auto r = load_kubeconfig(testdata("kubeconfig.yaml"), "anon");
  REQUIRE(r.ok());
  CHECK(r->token.empty());
  CHECK(r->tls.client_cert_pem.empty());
}

TEST_CASE("kubeconfig fixtures that must be refused") {
  SECTION("exec plugin") {
    const auto r = load_kubeconfig(testdata("exec-plugin.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + testdata("exec-plugin.yaml") +
                                   ": users[0].user.exec: exec credential plugins are not supported; use a token, "
                                   "tokenFile or client certificate");
  }
  SECTION("bad base64") {
    const auto r = load_kubeconfig(testdata("bad-base64.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + testdata("bad-base64.yaml") + ": users[0].user.client-key-data: invalid base64");
  }
  SECTION("missing cluster") {
    const auto r = load_kubeconfig(testdata("missing-cluster.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + testdata("missing-cluster.yaml") + ": context \"dev\": cluster \"c1\" not found");
  }
  SECTION("plain http") {
    const auto r = load_kubeconfig(testdata("http-server.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + testdata("http-server.yaml") +
                                   ": clusters[0].cluster.server: \"http://localhost:8080\": plain http:// is not supported (only https)");
  }
  SECTION("unknown context") {
    const auto r = load_kubeconfig(testdata("kubeconfig.yaml"), "nope");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + testdata("kubeconfig.yaml") + ": context \"nope\" not found");
  }
  SECTION("missing file") {
    const auto r = load_kubeconfig(testdata("does-not-exist.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::config);
    CHECK(r.error().message == "kubeconfig: cannot read " + testdata("does-not-exist.yaml") + ": No such file or directory");
  }
}

TEST_CASE("kubeconfig server URLs") {
  const auto server = [](const std::string& url) {
    const ScratchDir dir;
    return load_kubeconfig(dir.write("config", kubeconfig("    server: " + url + "\n")));
  };
  CHECK(server("https://10.0.0.1").value().port == "443");
  CHECK(server("https://10.0.0.1:6443/").value().host == "10.0.0.1");
  CHECK(server("https://[fd00::1]").value().host == "fd00::1");
  CHECK(server("https://[fd00::1]").value().port == "443");
  CHECK(server("api.example.com:443").value().host == "api.example.com");  // bare host: https
  CHECK(load_error(kubeconfig("    server: https://h:0\n")) == "clusters[0].cluster.server: \"https://h:0\": invalid port");
  CHECK(load_error(kubeconfig("    server: https://h:65536\n")) == "clusters[0].cluster.server: \"https://h:65536\": invalid port");
  CHECK(load_error(kubeconfig("    server: https://h:x\n")) == "clusters[0].cluster.server: \"https://h:x\": invalid port");
  CHECK(load_error(kubeconfig("    server: https://[::1\n")) == "clusters[0].cluster.server: \"https://[::1\": malformed IPv6 address");
  CHECK(load_error(kubeconfig("    server: https://\n")) == "clusters[0].cluster.server: \"https://\": no host");
  CHECK_THAT(load_error(kubeconfig("    server: https://rancher/k8s/clusters/c-1\n")),
             Catch::Contains("path prefixes") && Catch::StartsWith("clusters[0].cluster.server"));
  CHECK(load_error(kubeconfig("    server: unix:///run/k8s.sock\n")) ==
        "clusters[0].cluster.server: \"unix:///run/k8s.sock\": unsupported URL scheme (only https)");
  CHECK(load_error(kubeconfig("    insecure-skip-tls-verify: true\n")) == "clusters[0].cluster.server: missing");
}

TEST_CASE("kubeconfig TLS settings") {
  SECTION("insecure-skip-tls-verify: false is what happens anyway") {
    const ScratchDir dir;
    CHECK(load_kubeconfig(dir.write("a", kubeconfig("    server: https://h\n    insecure-skip-tls-verify: false\n"))).ok());
  }
  SECTION("insecure-skip-tls-verify: true is refused, with or without a CA") {
    const std::string refused =
        "clusters[0].cluster.insecure-skip-tls-verify: TLS verification cannot be turned off (the token would go to an "
        "unverified server); set certificate-authority-data to the cluster's CA, e.g. from the kube-root-ca.crt "
        "ConfigMap that every namespace has";
    CHECK(load_error(kubeconfig("    server: https://h\n    insecure-skip-tls-verify: true\n")) == refused);
    CHECK(load_error(kubeconfig("    server: https://h\n    insecure-skip-tls-verify: yes\n")) == refused);
    CHECK(load_error(kubeconfig("    server: https://h\n    insecure-skip-tls-verify: true\n"
                                "    certificate-authority-data: aGVsbG8=\n")) == refused);
  }
  SECTION("a non-boolean insecure flag") {
    CHECK(load_error(kubeconfig("    server: https://h\n    insecure-skip-tls-verify: maybe\n")) ==
          "clusters[0].cluster.insecure-skip-tls-verify: expected true or false, got \"maybe\"");
  }
  SECTION("inline CA data wins over a file") {
    const ScratchDir dir;
    const auto r = load_kubeconfig(dir.write("config", kubeconfig("    server: https://h\n    certificate-authority: /nonexistent\n"
                                                                  "    certificate-authority-data: aGVsbG8=\n")));
    CHECK(r.value().tls.ca_pem == "hello");
  }
  SECTION("an unreadable CA file names the field and the resolved path") {
    const ScratchDir dir;
    const std::string path = dir.write("config", kubeconfig("    server: https://h\n    certificate-authority: sub/ca.pem\n"));
    const auto r = load_kubeconfig(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "kubeconfig " + path + ": clusters[0].cluster.certificate-authority: cannot read " +
                                   dir.path("sub/ca.pem") + ": No such file or directory");
  }
  SECTION("a proxy is refused rather than bypassed") {
    CHECK_THAT(load_error(kubeconfig("    server: https://h\n    proxy-url: http://proxy:3128\n")),
               Catch::StartsWith("clusters[0].cluster.proxy-url: proxies are not supported"));
  }
}

TEST_CASE("kubeconfig user settings") {
  const std::string cluster = "    server: https://h\n";
  CHECK(load_error(kubeconfig(cluster, "    client-certificate-data: aGVsbG8=\n")) ==
        "users[0].user: client-certificate and client-key must be given together");
  CHECK(load_error(kubeconfig(cluster, "    client-certificate-data: \"a===\"\n    client-key-data: aGVsbG8=\n")) ==
        "users[0].user.client-certificate-data: invalid base64");
  CHECK_THAT(load_error(kubeconfig(cluster, "    tokenFile: missing-token\n")),
             Catch::StartsWith("users[0].user.tokenFile: cannot read ") && Catch::EndsWith("missing-token: No such file or directory"));
  CHECK_THAT(load_error(kubeconfig(cluster, "    auth-provider:\n      name: oidc\n")),
             Catch::StartsWith("users[0].user.auth-provider: auth-provider plugins are not supported"));
  CHECK(load_error(kubeconfig(cluster, "    username: admin\n    password: secret\n")) ==
        "users[0].user.username: basic authentication is not supported");
  CHECK(load_error(kubeconfig(cluster, "    token: t\n    as: someone-else\n")) == "users[0].user.as: impersonation is not supported");
  CHECK(load_error(kubeconfig(cluster, "    token: [a, b]\n")) == "users[0].user.token: expected a string");
  const ScratchDir dir;
  CHECK(load_kubeconfig(dir.write("c", kubeconfig(cluster, "    token: \" padded \\n\"\n"))).value().token == "padded");
}

TEST_CASE("kubeconfig: a context on an insecure-skip-tls-verify cluster is refused, naming file and field") {
  const auto r = load_kubeconfig(testdata("kubeconfig.yaml"), "insecure");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::config);
  CHECK_THAT(r.error().message, Catch::StartsWith("kubeconfig " + testdata("kubeconfig.yaml") +
                                                  ": clusters[3].cluster.insecure-skip-tls-verify: TLS verification "
                                                  "cannot be turned off"));
}

TEST_CASE("kubeconfig: a file over the size limit is refused before parsing, naming the limit") {
  const ScratchDir dir;
  // The sweep's case: 10 MB of nested flow sequences (yaml-cpp: "bad file" after ~80 s).
  const std::string nested = dir.write("nested", std::string(5'000'000, '[') + std::string(5'000'000, ']'));
  const auto r = load_kubeconfig(nested);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::config);
  CHECK(r.error().message == "kubeconfig: cannot read " + nested + ": larger than the 1048576-byte limit");
  // One byte over is over: comments, otherwise a fine kubeconfig.
  const std::string body = kubeconfig("    server: https://h\n");
  const std::string padded = body + std::string(1'048'576 - body.size(), '#');
  CHECK(load_kubeconfig(dir.write("padded-ok", padded.substr(0, padded.size() - 1) + "\n")).ok());
  const auto over = load_kubeconfig(dir.write("padded-over", padded + "\n"));
  REQUIRE_FALSE(over.ok());
  CHECK_THAT(over.error().message, Catch::EndsWith("padded-over: larger than the 1048576-byte limit"));
}

TEST_CASE("kubeconfig: nesting over the depth limit is refused before parsing, naming the line") {
  // Flow collections (which yaml-cpp scans slowly) and block ones alike.
  CHECK(load_error("current-context: x\nextensions: " + std::string(200'000, '[') + std::string(200'000, ']') + "\n") ==
        "line 2: YAML nested more than 64 levels deep (the limit for a kubeconfig)");
  std::string block = "current-context: x\n";
  for (int i = 0; i < 100; ++i) block += std::string(static_cast<std::size_t>(i) * 2, ' ') + "a:\n";
  CHECK(load_error(block) == "line 66: YAML nested more than 64 levels deep (the limit for a kubeconfig)");
  // 64 levels is still fine (and then the usual checks apply).
  CHECK(load_error("current-context: x\nextensions: " + std::string(63, '[') + std::string(63, ']') + "\n") ==
        "context \"x\" not found");
}

TEST_CASE("kubeconfig structure errors name the field") {
  CHECK(load_error("") == "not a kubeconfig (expected a YAML mapping)");
  CHECK(load_error("- a\n- b\n") == "not a kubeconfig (expected a YAML mapping)");
  CHECK_THAT(load_error("clusters: [\n"), Catch::StartsWith("invalid YAML: "));
  CHECK(load_error("apiVersion: v1\nclusters: []\n") == "current-context is not set and no context was given");
  CHECK(load_error("current-context: x\ncontexts: {}\n") == "contexts: expected a list");
  CHECK(load_error("current-context: x\ncontexts:\n- just-a-string\n") == "contexts[0]: expected a mapping");
  CHECK(load_error("current-context: x\ncontexts:\n- name: x\n") == "contexts[0].context: expected a mapping");
  CHECK(load_error("current-context: x\ncontexts:\n- name: x\n  context:\n    user: u\n") == "contexts[0].context.cluster: missing");
  CHECK(load_error("current-context: [x]\n") == "current-context: expected a string");
  const std::string no_user = kubeconfig("    server: https://h\n");
  CHECK(load_error(no_user.substr(0, no_user.find("users:"))) == "context \"ctx\": user \"u\" not found");
}

TEST_CASE("base64 decoding follows Go's standard encoding") {
  using kle::kube::detail::base64_decode;
  CHECK(base64_decode("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(base64_decode("aGVsbG8") == std::optional<std::string>("hello"));        // padding optional
  CHECK(base64_decode("aGVs\nbG8=\n") == std::optional<std::string>("hello"));   // wrapped lines
  CHECK(base64_decode("") == std::optional<std::string>(""));
  CHECK(base64_decode("AA==") == std::optional<std::string>(std::string(1, '\0')));
  CHECK(base64_decode("+/+/") == std::optional<std::string>("\xfb\xff\xbf"));
  CHECK_FALSE(base64_decode("a").has_value());        // a lone sextet is not a byte
  CHECK_FALSE(base64_decode("aGVsbG8=x").has_value()); // data after padding
  CHECK_FALSE(base64_decode("aGVsbG8===").has_value());
  CHECK_FALSE(base64_decode("aGVsbA=").has_value());   // wrong padding length
  CHECK_FALSE(base64_decode("aGV-bG8=").has_value());  // URL alphabet is not the standard one
}
