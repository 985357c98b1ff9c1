#pragma once
// Typed API errors. Each kind is also an error_code in the "kube-api" category so it can be
// compared and logged like any Asio error; Error adds the server's Status details.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace kle::api {

enum class ErrorKind {
  transport = 1,      // connect/TLS/read/write failed, connection closed, torn response
  timeout,            // the request's own deadline passed
  cancelled,          // the caller cancelled (shutdown)
  bad_response,       // the server answered something we cannot decode
  bad_request,        // 400
  unauthorized,       // 401
  forbidden,          // 403: RBAC denied; message names verb and resource
  not_found,          // 404
  conflict,           // 409: resourceVersion is stale or object exists
  gone,               // 410: watch resourceVersion too old; re-list
  invalid,            // 422
  too_many_requests,  // 429: honour retry_after
  server_error,       // 5xx
  http_other,         // any other non-2xx
  config,             // bad kubeconfig / in-cluster files / flags
};

const std::error_category& kube_category() noexcept;
std::error_code make_error_code(ErrorKind k) noexcept;
const char* to_string(ErrorKind k) noexcept;

// Bounds on what a server may make us keep and log. Retry-After and retryAfterSeconds are
// clamped to kMaxRetryAfter when parsed, so no caller's duration arithmetic can overflow
// (callers still cap it further against their own timings). A Status message or reason
// longer than its cap is cut (at a UTF-8 boundary) and marked kTruncatedMarker + its size.
inline constexpr std::chrono::seconds kMaxRetryAfter{600};
inline constexpr std::size_t kMaxMessage = 1024;
inline constexpr std::size_t kMaxReason = 128;
inline constexpr std::string_view kTruncatedMarker = "...[truncated, ";

struct Error {
  ErrorKind kind = ErrorKind::transport;
  int http_status = 0;            // 0 when no HTTP status was received
  std::string reason;             // Status.reason, e.g. "Forbidden", "Conflict"
  std::string message;            // Status.message or a description of what failed
  std::chrono::seconds retry_after{0};  // from Retry-After or Status.details.retryAfterSeconds,
                                        // at most kMaxRetryAfter when parsed

  // One line for logs: "forbidden (403 Forbidden): leases.coordination.k8s.io \"x\" is forbidden: ...".
  // Bounded too (kMaxReason/kMaxMessage), whoever filled the fields.
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] bool is(ErrorKind k) const noexcept { return kind == k; }
};

// The one factory for an Error raised on our side of the wire: no HTTP status, no Status
// reason, no Retry-After (decoding failures, deadlines, bad configuration, ...).
Error local_error(ErrorKind kind, std::string message);

// Maps an HTTP status to its kind (2xx is not an error; callers check first).
ErrorKind kind_for_status(int http_status) noexcept;

// Builds an Error from a non-2xx response: decodes a metav1.Status body when present,
// falls back to the raw body text, and takes Retry-After (seconds) from the header value.
Error error_from_response(int http_status, std::string_view body, std::string_view retry_after_header);

}  // namespace kle::api

template <>
struct std::is_error_code_enum<kle::api::ErrorKind> : std::true_type {};
