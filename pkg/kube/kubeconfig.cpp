// load_kubeconfig: the subset of kubectl's kubeconfig we honour, with every refusal named
// by file and field ("kubeconfig /x/config: users[0].user.client-key-data: invalid base64").
#include <filesystem>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <kle/kube/config.hpp>
#include "config_detail.hpp"
#include "yaml_depth.hpp"

namespace kle::kube {
namespace {

// yaml-cpp hands out an invalid node for a missing key, whose type queries throw; these
// ask "is it there" first.
bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }
bool is_map(const YAML::Node& n) { return n.IsDefined() && n.IsMap(); }
std::string field(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }

// One kubeconfig being read: its path (for messages and relative file references).
class Doc {
 public:
  explicit Doc(std::string path) : path_(std::move(path)) {}

  [[nodiscard]] api::Error fail(const std::string& what) const {
    return detail::config_error("kubeconfig " + path_ + ": " + what);
  }

  // kubectl resolves relative file references against the kubeconfig's own directory.
  [[nodiscard]] std::string resolve(const std::string& file) const {
    const std::filesystem::path p(file);
    if (p.is_absolute()) return file;
    return (std::filesystem::path(path_).parent_path() / p).lexically_normal().string();
  }

  // A string field: empty when absent or null, an error when not a scalar.
  Result<std::string> scalar(const YAML::Node& map, const char* key, const std::string& path) const {
    const YAML::Node v = map[key];
    if (!present(v)) return std::string{};
    if (!v.IsScalar()) return fail(field(path, key) + ": expected a string");
    return v.Scalar();
  }

  Result<bool> boolean(const YAML::Node& map, const char* key, const std::string& path) const {
    auto s = scalar(map, key, path);
    if (!s.ok()) return std::move(s).error();
    const std::string& v = *s;
    // YAML 1.1 spellings, which the Go YAML decoder behind kubectl also accepts.
    if (v.empty() || v == "false" || v == "False" || v == "FALSE" || v == "no" || v == "off") return false;
    if (v == "true" || v == "True" || v == "TRUE" || v == "yes" || v == "on") return true;
    return fail(field(path, key) + ": expected true or false, got \"" + v + "\"");
  }

  // `field` (inline base64) wins over `file_field` (a path), as in client-go.
  Result<std::string> bytes(const YAML::Node& map, const char* data_key, const char* file_key,
                            const std::string& path, std::string* file_out = nullptr) const {
    auto data = scalar(map, data_key, path);
    if (!data.ok()) return std::move(data).error();
    if (!data->empty()) {
      auto decoded = detail::base64_decode(*data);
      if (!decoded) return fail(path + "." + data_key + ": invalid base64");
      return std::move(*decoded);
    }
    auto file = scalar(map, file_key, path);
    if (!file.ok()) return std::move(file).error();
    if (file->empty()) return std::string{};
    const std::string resolved = resolve(*file);
    std::string err;
    auto content = detail::read_file(resolved, err);
    if (!content) return fail(path + "." + file_key + ": " + err);
    if (file_out != nullptr) *file_out = resolved;
    return std::move(*content);
  }

  // Index and body ("cluster"/"user"/"context") of the entry called `name` in list `list`.
  Result<std::pair<std::size_t, YAML::Node>> named(const YAML::Node& root, const char* list, const char* body,
                                                  const std::string& name, const std::string& who) const {
    const YAML::Node seq = root[list];
    if (present(seq) && !seq.IsSequence()) return fail(std::string(list) + ": expected a list");
    if (present(seq)) {
      for (std::size_t i = 0; i < seq.size(); ++i) {
        const YAML::Node entry = seq[i];
        const std::string at = std::string(list) + "[" + std::to_string(i) + "]";
        if (!is_map(entry)) return fail(at + ": expected a mapping");
        auto n = scalar(entry, "name", at);
        if (!n.ok()) return std::move(n).error();
        if (*n != name) continue;
        const YAML::Node b = entry[body];
        if (!is_map(b)) return fail(at + "." + body + ": expected a mapping");
        return std::pair<std::size_t, YAML::Node>{i, b};
      }
    }
    return fail(who + " not found");
  }

 private:
  std::string path_;
};

struct Server {
  std::string host, port;
};

// "https://host[:port][/]", host possibly a bracketed IPv6 literal. Bare "host:port" is
// taken as https, as client-go does once TLS settings are present; we only speak TLS.
std::optional<Server> parse_server(std::string_view url, std::string& why) {
  if (url.rfind("http://", 0) == 0) {
    why = "plain http:// is not supported (only https)";
    return std::nullopt;
  }
  if (url.rfind("https://", 0) == 0) url.remove_prefix(8);
  else if (url.find("://") != std::string_view::npos) {
    why = "unsupported URL scheme (only https)";
    return std::nullopt;
  }
  while (url.size() > 1 && url.back() == '/') url.remove_suffix(1);
  if (url.size() == 1 && url[0] == '/') url = {};
  if (url.find_first_of("/?#@") != std::string_view::npos) {
    why = "path prefixes, queries and user info in the server URL are not supported";
    return std::nullopt;
  }
  Server s{{}, "443"};
  std::string_view rest;
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    if (close == std::string_view::npos || close == 1) {
      why = "malformed IPv6 address";
      return std::nullopt;
    }
    s.host = std::string(url.substr(1, close - 1));
    rest = url.substr(close + 1);
  } else {
    const auto colon = url.find(':');
    s.host = std::string(url.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : url.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || !detail::valid_port(rest.substr(1))) {
      why = "invalid port";
      return std::nullopt;
    }
    s.port = std::string(rest.substr(1));
  }
  if (s.host.empty()) {
    why = "no host";
    return std::nullopt;
  }
  return s;
}

Result<void> apply_cluster(const Doc& doc, const YAML::Node& c, const std::string& at, ClusterConfig& out) {
  auto server = doc.scalar(c, "server", at);
  if (!server.ok()) return std::move(server).error();
  if (server->empty()) return doc.fail(at + ".server: missing");
  std::string why;
  const auto parsed = parse_server(*server, why);
  if (!parsed) return doc.fail(at + ".server: \"" + *server + "\": " + why);
  out.host = parsed->host;
  out.port = parsed->port;
  auto ca = doc.bytes(c, "certificate-authority-data", "certificate-authority", at, &out.tls.ca_file);
  if (!ca.ok()) return std::move(ca).error();
  out.tls.ca_pem = std::move(*ca);
  auto insecure = doc.boolean(c, "insecure-skip-tls-verify", at);
  if (!insecure.ok()) return std::move(insecure).error();
  // Refused outright, with no flag to allow it: the bearer token would go to whoever answers.
  // The cluster's CA is always at hand to put here instead.
  if (*insecure) {
    return doc.fail(at + ".insecure-skip-tls-verify: TLS verification cannot be turned off (the token would go to "
                         "an unverified server); set certificate-authority-data to the cluster's CA, e.g. from the "
                         "kube-root-ca.crt ConfigMap that every namespace has");
  }
  auto sni = doc.scalar(c, "tls-server-name", at);
  if (!sni.ok()) return std::move(sni).error();
  out.tls.server_name = std::move(*sni);
  if (present(c["proxy-url"])) return doc.fail(at + ".proxy-url: proxies are not supported");
  return {};
}

Result<void> refuse_unsupported_auth(const Doc& doc, const YAML::Node& u, const std::string& at) {
  // Silently ignoring these would mean running unauthenticated; say which one it was.
  static constexpr std::pair<const char*, const char*> kUnsupported[] = {
      {"exec", "exec credential plugins are not supported; use a token, tokenFile or client certificate"},
      {"auth-provider", "auth-provider plugins are not supported; use a token, tokenFile or client certificate"},
      {"username", "basic authentication is not supported"},
      {"password", "basic authentication is not supported"},
      {"as", "impersonation is not supported"},
      {"as-groups", "impersonation is not supported"},
      {"as-uid", "impersonation is not supported"},
  };
  for (const auto& [key, why] : kUnsupported) {
    if (present(u[key])) return doc.fail(at + "." + key + ": " + why);
  }
  return {};
}

Result<void> apply_user(const Doc& doc, const YAML::Node& u, const std::string& at, ClusterConfig& out) {
  if (auto r = refuse_unsupported_auth(doc, u, at); !r.ok()) return r;
  auto token = doc.scalar(u, "token", at);
  if (!token.ok()) return std::move(token).error();
  out.token = detail::trim(*token);
  if (auto why = detail::bearer_token_problem(out.token); !why.empty()) return doc.fail(at + ".token: " + why);
  auto token_file = doc.scalar(u, "tokenFile", at);
  if (!token_file.ok()) return std::move(token_file).error();
  if (!token_file->empty()) {
    out.token_file = doc.resolve(*token_file);
    std::string err;
    const auto content = detail::read_file(out.token_file, err);
    if (!content) return doc.fail(at + ".tokenFile: " + err);
    // Checked now for a clear start-up error; TokenSource checks every re-read too.
    if (auto why = detail::bearer_token_problem(detail::trim(*content)); !why.empty())
      return doc.fail(at + ".tokenFile: " + out.token_file + " " + why);
  }
  auto cert = doc.bytes(u, "client-certificate-data", "client-certificate", at);
  if (!cert.ok()) return std::move(cert).error();
  auto key = doc.bytes(u, "client-key-data", "client-key", at);
  if (!key.ok()) return std::move(key).error();
  if (cert->empty() != key->empty()) {
    return doc.fail(at + ": client-certificate and client-key must be given together");
  }
  out.tls.client_cert_pem = std::move(*cert);
  out.tls.client_key_pem = std::move(*key);
  return {};
}

Result<ClusterConfig> load_document(const Doc& doc, const YAML::Node& root, const std::string& context) {
  if (!is_map(root)) return doc.fail("not a kubeconfig (expected a YAML mapping)");
  auto current = doc.scalar(root, "current-context", "");
  if (!current.ok()) return std::move(current).error();
  const std::string name = context.empty() ? *current : context;
  if (name.empty()) return doc.fail("current-context is not set and no context was given");
  const std::string who = "context \"" + name + "\"";
  auto ctx = doc.named(root, "contexts", "context", name, who);
  if (!ctx.ok()) return std::move(ctx).error();
  const std::string ctx_at = "contexts[" + std::to_string(ctx->first) + "].context";
  auto cluster_name = doc.scalar(ctx->second, "cluster", ctx_at);
  auto user_name = doc.scalar(ctx->second, "user", ctx_at);
  auto ns = doc.scalar(ctx->second, "namespace", ctx_at);
  if (!cluster_name.ok()) return std::move(cluster_name).error();
  if (!user_name.ok()) return std::move(user_name).error();
  if (!ns.ok()) return std::move(ns).error();
  if (cluster_name->empty()) return doc.fail(ctx_at + ".cluster: missing");

  ClusterConfig out;
  out.namespace_ = std::move(*ns);
  auto cluster = doc.named(root, "clusters", "cluster", *cluster_name, who + ": cluster \"" + *cluster_name + "\"");
  if (!cluster.ok()) return std::move(cluster).error();
  const std::string cluster_at = "clusters[" + std::to_string(cluster->first) + "].cluster";
  if (auto r = apply_cluster(doc, cluster->second, cluster_at, out); !r.ok()) return r.error();
  // A context without a user is anonymous access; kubectl allows it, so do we.
  if (!user_name->empty()) {
    auto user = doc.named(root, "users", "user", *user_name, who + ": user \"" + *user_name + "\"");
    if (!user.ok()) return std::move(user).error();
    const std::string user_at = "users[" + std::to_string(user->first) + "].user";
    if (auto r = apply_user(doc, user->second, user_at, out); !r.ok()) return r.error();
  }
  return out;
}

}  // namespace

Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context) {
  const Doc doc(path);
  std::string err;
  // Both limits come before yaml-cpp, which needs minutes for ten megabytes of nested flow
  // collections and then reports only "bad file".
  const auto text = detail::read_file(path, err, detail::kMaxKubeconfigBytes);
  if (!text) return detail::config_error("kubeconfig: " + err);
  if (const auto line = detail::yaml_too_deep(*text, detail::kMaxKubeconfigDepth)) {
    return doc.fail("line " + std::to_string(*line) + ": YAML nested more than " +
                    std::to_string(detail::kMaxKubeconfigDepth) + " levels deep (the limit for a kubeconfig)");
  }
  try {
    const YAML::Node root = YAML::Load(*text);
    auto c = load_document(doc, root, context);
    if (c.ok()) c->source = path;
    return c;
  } catch (const YAML::DeepRecursion& e) {
    // A backstop for nesting our scan undercounted; yaml-cpp 0.7's own message says "bad file".
    return doc.fail("line " + std::to_string(e.mark.line + 1) + ": YAML nested too deep for the YAML parser");
  } catch (const YAML::Exception& e) {
    // Start-up only: yaml-cpp reports syntax errors (and some type errors) by throwing.
    return doc.fail(std::string("invalid YAML: ") + e.what());
  }
}

}  // namespace kle::kube
