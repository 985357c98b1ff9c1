#include <kle/kube/config.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config_detail.hpp"

namespace kle::kube {
namespace detail {

api::Error config_error(std::string message) {
  return api::local_error(api::ErrorKind::config, std::move(message));
}

std::optional<std::string> read_file(const std::string& path, std::string& error, std::size_t max_bytes) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path + ": " + (errno != 0 ? std::strerror(errno) : "open failed");
    return std::nullopt;
  }
  // Read in pieces and stop at the limit: the size from stat() would not cover a FIFO or
  // /dev/zero, which report none and never end.
  std::string out;
  std::array<char, std::size_t{16} * 1024> buf{};
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n > max_bytes - out.size()) {
      error = "cannot read " + path + ": larger than the " + std::to_string(max_bytes) + "-byte limit";
      return std::nullopt;
    }
    out.append(buf.data(), n);
  }
  if (in.bad()) {
    error = "cannot read " + path + ": read failed";
    return std::nullopt;
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  int n = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= 65535;
}

std::optional<std::string> base64_decode(std::string_view in) {
  // Standard alphabet; whitespace ignored and padding optional, as Go's decoder accepts
  // line-wrapped data. Anything else (or a lone trailing sextet) is invalid.
  std::string out;
  out.reserve(in.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0, sextets = 0;
  for (const char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    std::uint32_t v = 0;
    if (c >= 'A' && c <= 'Z') v = static_cast<std::uint32_t>(c - 'A');
    else if (c >= 'a' && c <= 'z') v = static_cast<std::uint32_t>(c - 'a' + 26);
    else if (c >= '0' && c <= '9') v = static_cast<std::uint32_t>(c - '0' + 52);
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else return std::nullopt;
    acc = (acc << 6U) | v;
    bits += 6;
    ++sextets;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xFFU);
    }
  }
  if (sextets % 4 == 1 || pad > 2 || (pad > 0 && (sextets + pad) % 4 != 0)) return std::nullopt;
  return out;
}

std::string bearer_token_problem(std::string_view token) {
  for (std::size_t i = 0; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c > 0x20 && c < 0x7F) continue;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(c));
    std::string what = c == '\n'  ? "a line feed (LF)"
                       : c == '\r' ? "a carriage return (CR)"
                       : c == ' ' || c == '\t' ? std::string("whitespace (") + hex + ")"
                       : c >= 0x80 ? std::string("a non-ASCII byte (") + hex + ")"
                                   : std::string("a control character (") + hex + ")";
    return "holds " + what + " at byte " + std::to_string(i) +
           "; a bearer token may hold only visible ASCII characters";
  }
  return {};
}

}  // namespace detail

using detail::config_error;

namespace {

std::string join(const std::string& dir, const char* file) { return (std::filesystem::path(dir) / file).string(); }

}  // namespace

Result<ClusterConfig> load_in_cluster(const InClusterPaths& paths) {
  const char* host_env = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port_env = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host_env == nullptr || *host_env == '\0' || port_env == nullptr || *port_env == '\0') {
    return config_error("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set");
  }
  ClusterConfig c;
  c.source = "in-cluster";
  c.host = host_env;
  // An IPv6 service IP comes bare ("fd00::1"); tolerate a bracketed form too.
  if (c.host.size() > 2 && c.host.front() == '[' && c.host.back() == ']') c.host = c.host.substr(1, c.host.size() - 2);
  c.port = port_env;
  if (!detail::valid_port(c.port)) {
    return config_error("in-cluster: KUBERNETES_SERVICE_PORT: not a port number: \"" + c.port + "\"");
  }
  std::string err;
  // Only the path is kept (the token rotates and is re-read), but a missing or empty token
  // at start-up is a broken mount and is reported now rather than as 401s later.
  c.token_file = join(paths.dir, "token");
  const auto token = detail::read_file(c.token_file, err);
  if (!token) return config_error("in-cluster: service-account token: " + err);
  const std::string trimmed = detail::trim(*token);
  if (trimmed.empty()) return config_error("in-cluster: service-account token: " + c.token_file + " is empty");
  if (auto why = detail::bearer_token_problem(trimmed); !why.empty()) {
    return config_error("in-cluster: service-account token: " + c.token_file + " " + why);
  }
  c.tls.ca_file = join(paths.dir, "ca.crt");
  auto ca = detail::read_file(c.tls.ca_file, err);
  if (!ca) return config_error("in-cluster: service-account CA: " + err);
  if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return config_error("in-cluster: service-account CA: " + c.tls.ca_file + " holds no PEM certificate");
  }
  c.tls.ca_pem = std::move(*ca);
  c.namespace_ = in_cluster_namespace(paths);
  return c;
}

std::string in_cluster_namespace(const InClusterPaths& paths) {
  std::string err;
  const auto ns = detail::read_file(join(paths.dir, "namespace"), err);
  return ns ? detail::trim(*ns) : std::string{};
}

namespace {

// $KUBECONFIG may be a colon-separated list that kubectl merges. We do not merge: the
// first entry naming an existing file is used, which covers the usual single-file case.
Result<std::optional<std::string>> kubeconfig_from_env() {
  const char* env = std::getenv("KUBECONFIG");
  if (env == nullptr || *env == '\0') return std::optional<std::string>{};
  std::string_view list(env);
  std::string first_named;
  while (!list.empty()) {
    const auto colon = list.find(':');
    const std::string entry(list.substr(0, colon));
    list = colon == std::string_view::npos ? std::string_view{} : list.substr(colon + 1);
    if (entry.empty()) continue;
    if (first_named.empty()) first_named = entry;
    std::error_code ec;
    if (std::filesystem::exists(entry, ec)) return std::optional<std::string>{entry};
  }
  if (first_named.empty()) return std::optional<std::string>{};
  return config_error("KUBECONFIG=" + std::string(env) + ": no listed file exists");
}

}  // namespace

Result<std::optional<ClusterConfig>> discover_config(const std::string& explicit_kubeconfig,
                                                     const std::string& context, const InClusterPaths& paths) {
  using Found = std::optional<ClusterConfig>;
  const auto from_file = [&context](const std::string& path) -> Result<Found> {
    auto c = load_kubeconfig(path, context);
    if (!c.ok()) return std::move(c).error();
    return Found{std::move(*c)};
  };
  if (!explicit_kubeconfig.empty()) return from_file(explicit_kubeconfig);
  auto env = kubeconfig_from_env();
  if (!env.ok()) return std::move(env).error();
  if (env->has_value()) return from_file(**env);
  const char* service_host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (service_host != nullptr && *service_host != '\0') {
    auto c = load_in_cluster(paths);
    if (!c.ok()) return std::move(c).error();
    return Found{std::move(*c)};
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    const std::string path = join(join(home, ".kube"), "config");
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return from_file(path);
  }
  // A context names part of a kubeconfig; asking for one with no kubeconfig is a mistake.
  if (!context.empty()) return config_error("context \"" + context + "\" requested but no kubeconfig was found");
  return Found{};
}

}  // namespace kle::kube
