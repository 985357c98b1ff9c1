#pragma once
// Where the API server is and how to authenticate: in-cluster service account files, or a
// kubeconfig. Loading is start-up work, but still returns errors as values so the CLI can
// print one clear line that names the file and the field.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <kle/api/result.hpp>

namespace kle::kube {

using api::Result;

struct TlsConfig {
  std::string ca_pem;            // PEM bundle to verify the server (inline or read from ca_file)
  std::string ca_file;           // when set, re-read on reconnect (the CA can rotate too)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string server_name;       // SNI and hostname check; defaults to host
};

struct ClusterConfig {
  std::string host;              // "127.0.0.1", "kubernetes.default.svc", "[::1]" without brackets
  std::string port = "443";
  TlsConfig tls;
  std::string token;             // static bearer token (kubeconfig `token`)
  std::string token_file;        // re-read periodically: bound service-account tokens rotate
  std::string namespace_;        // from the context or the service-account namespace file; may be empty
  std::string source;            // "in-cluster" or the kubeconfig path, for logs and errors
};

struct InClusterPaths {
  std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount";  // token, ca.crt, namespace
};

// KUBERNETES_SERVICE_HOST/_PORT plus the service-account token, CA and namespace files.
Result<ClusterConfig> load_in_cluster(const InClusterPaths& paths = {});
// A kubeconfig file; `context` empty means current-context.
Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context = {});

// Discovery order: explicit path (flag), $KUBECONFIG, in-cluster (KUBERNETES_SERVICE_HOST),
// ~/.kube/config. nullopt means "no cluster configured": the elector's standalone mode.
// An explicitly named but broken source is an error, never a silent fall-through.
// $KUBECONFIG is not merged as kubectl does: its first entry naming an existing file is used.
// `in_cluster` overrides the service-account directory (tests).
Result<std::optional<ClusterConfig>> discover_config(const std::string& explicit_kubeconfig,
                                                     const std::string& context,
                                                     const InClusterPaths& in_cluster = {});

// The service-account namespace when running in a pod, else empty.
std::string in_cluster_namespace(const InClusterPaths& paths = {});

// Reads a bearer token from a file at most once per `refresh`, keeping the last good token
// when a re-read fails (a rotation in progress must not log us out). A token that could not
// be sent as a header value (see detail::bearer_token_problem) is never used: a re-read one
// is refused and reported to `on_refused`, and the last good token keeps serving.
class TokenSource {
 public:
  using Clock = std::chrono::steady_clock;
  // Gets one line naming the file and the offending byte; never the token.
  using RefusalHandler = std::function<void(const std::string& reason)>;
  explicit TokenSource(std::string_view static_token, std::string token_file = {},
                       std::chrono::seconds refresh = std::chrono::seconds(60), RefusalHandler on_refused = {});
  // The token to send; empty means none (anonymous). An error when the only token there is
  // was refused: the static one, or the file's before it ever gave a good one. `now` is
  // injectable for tests.
  Result<std::string> token(Clock::time_point now = Clock::now());

 private:
  void reread();

  std::string token_;
  std::optional<api::Error> refused_;  // why there is no usable token, while token_ is empty
  std::string file_;
  std::chrono::seconds refresh_;
  RefusalHandler on_refused_;
  std::optional<Clock::time_point> last_read_;
};

}  // namespace kle::kube
