// The lexical nesting bound that runs before yaml-cpp: it must agree with yaml-cpp's own
// tree on real kubeconfig shapes (so no real file is refused), and it must see through
// quotes, comments and block scalars.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "kube/yaml_depth.hpp"
#include "test_config_support.hpp"

using kle::kube::detail::yaml_too_deep;

namespace {

// The depth the scan measures: the smallest limit it accepts.
std::size_t scanned_depth(const std::string& text) {
  std::size_t limit = 0;
  while (yaml_too_deep(text, limit).has_value()) ++limit;
  return limit;
}

// The depth of the collections in yaml-cpp's tree.
std::size_t parsed_depth(const YAML::Node& n) {
  if (!n.IsMap() && !n.IsSequence()) return 0;
  std::size_t deepest = 0;
  for (const auto& child : n) {
    const std::size_t d = n.IsMap() ? std::max(parsed_depth(child.first), parsed_depth(child.second)) : parsed_depth(child);
    deepest = std::max(deepest, d);
  }
  return deepest + 1;
}

std::size_t parsed_depth(const std::string& text) { return parsed_depth(YAML::Load(text)); }

const char* const kMinikube = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority: /home/u/.minikube/ca.crt
    extensions:
    - extension:
        last-update: Mon, 01 Jan 2024 10:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.32.0
      name: cluster_info
    server: https://192.168.49.2:8443
  name: minikube
contexts:
- context:
    cluster: minikube
    extensions:
    - extension:
        last-update: Mon, 01 Jan 2024 10:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.32.0
      name: context_info
    namespace: default
    user: minikube
  name: minikube
current-context: minikube
kind: Config
preferences: {}
users:
- name: minikube
  user:
    client-certificate: /home/u/.minikube/profiles/minikube/client.crt
    client-key: /home/u/.minikube/profiles/minikube/client.key
)";

// Hand-written shapes: sequences at their key's column, compact nesting, comments, CRLF.
const char* const kShapes = R"(# a comment with [[[[ brackets
top:
- a: 1
  b:
  - x
  - [y, {z: [1, 2]}]   # flow in a block sequence
- - nested
  - - deeper: true
other: "quoted [[[ { not flow"
single: 'it''s [not] {flow}'
plain: value with [brackets and {braces
url: https://[::1]:6443/path?q=[x]
multi: [a,
  [b, c],
  {d: e}]
literal: |
  [[[[[[[[[[[[[[ text
    {{{{{{{{
folded: >-
  also [[[[ text
after: {k: v}
)";

}  // namespace

TEST_CASE("yaml depth: the scan agrees with yaml-cpp on kubeconfig shapes") {
  const std::string fixture = [] {
    std::ifstream in(kle::test::testdata("kubeconfig.yaml"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  for (const std::string& doc : {fixture, std::string(kMinikube), std::string(kShapes)}) {
    INFO(doc);
    CHECK(scanned_depth(doc) == parsed_depth(doc));
  }
  CHECK(scanned_depth(kMinikube) == 7);
  CHECK(scanned_depth(kShapes) == 7);
  std::string crlf;
  for (const char c : std::string(kMinikube)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  CHECK(scanned_depth(crlf) == 7);
}

TEST_CASE("yaml depth: flow and block nesting, and where it goes too deep") {
  CHECK_FALSE(yaml_too_deep("", 0).has_value());
  CHECK_FALSE(yaml_too_deep("just a scalar\n", 0).has_value());
  CHECK(scanned_depth("a: " + std::string(100, '[') + std::string(100, ']')) == 101);
  CHECK(yaml_too_deep("a: 1\nb: [\n [\n  [1]]]\n", 3) == std::optional<std::size_t>(4));
  CHECK(scanned_depth("- - - - x\n") == 4);
  CHECK(scanned_depth("? [a, [b]]\n: {c: {d: e}}\n") == 3);
  CHECK(scanned_depth("a: &x [1, [2]]\nb: !!seq [*x]\n") == 3);
  CHECK(scanned_depth("---\na:\n  b: 1\n---\n- 1\n...\n") == 2);
  std::string block;
  for (std::size_t i = 0; i < 80; ++i) block += std::string(i, ' ') + "k:\n";
  CHECK(yaml_too_deep(block, 64) == std::optional<std::size_t>(65));
  // A top-level block scalar swallows the rest of the document.
  CHECK(scanned_depth("|\n" + std::string(100, '[') + "\n") == 0);
  // Unterminated constructs end the scan without crashing; the parser reports them.
  CHECK(scanned_depth("a: \"open\n  [[[[\n") == 1);
  CHECK(scanned_depth("a: [[[\n") == 4);
  CHECK(scanned_depth("a: \"\\") == 1);
}
