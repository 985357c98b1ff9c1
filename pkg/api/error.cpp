#include <kle/api/error.hpp>

#include <algorithm>
#include <cstdint>

#include <kle/api/json.hpp>

namespace kle::api {
namespace {

class KubeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kube-api"; }
  std::string message(int ev) const override { return to_string(static_cast<ErrorKind>(ev)); }
};

// A raw (non-Status) body may be an HTML error page from a proxy: keep enough to diagnose
// it, but keep the log line one line and bounded.
constexpr std::size_t kMaxRawBody = 512;

std::string one_line_excerpt(std::string_view body) {
  std::string out;
  out.reserve(std::min(body.size(), kMaxRawBody) + 3);
  bool last_space = true;  // also trims leading whitespace
  for (const char c : body) {
    const auto uc = static_cast<unsigned char>(c);
    const bool space = uc < 0x20 || uc == 0x7f || c == ' ';
    if (space) {
      if (!last_space) out += ' ';
      last_space = true;
      continue;
    }
    if (out.size() >= kMaxRawBody) {
      // Do not cut a UTF-8 sequence in half: drop continuation bytes left dangling.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0U) == 0x80U) out.pop_back();
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0U) out.pop_back();
      out += "...";
      return out;
    }
    out += c;
    last_space = false;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Retry-After as delta-seconds (what the apiserver sends). The HTTP-date form is not
// used by Kubernetes and is ignored rather than guessed at.
std::chrono::seconds parse_retry_after(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::chrono::seconds(0);
  std::int64_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') return std::chrono::seconds(0);
    // Saturate rather than overflow: any value past the bound means "the bound".
    n = std::min<std::int64_t>(n * 10 + (c - '0'), kMaxRetryAfter.count());
  }
  return std::chrono::seconds(n);
}

// Server text we keep and log is bounded: a Status message can be megabytes, and it is
// logged on every retry. The cut keeps whole UTF-8 sequences, and the result including
// the marker fits in `limit`, so bounding twice changes nothing.
std::string bounded(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  const std::string marker = std::string(kTruncatedMarker) + std::to_string(text.size()) + " bytes]";
  std::size_t keep = limit > marker.size() ? limit - marker.size() : 0;
  // text[keep] is the first byte dropped: while it continues a sequence, back up to that
  // sequence's lead byte and drop it whole (3 bytes at most; invalid UTF-8 is cut anywhere).
  const auto continues = [&](std::size_t i) { return (static_cast<unsigned char>(text[i]) & 0xC0U) == 0x80U; };
  for (int back = 0; back < 3 && keep > 0 && continues(keep); ++back) --keep;
  std::string out(text.substr(0, keep));
  out += marker;
  return out;
}

// Fills reason/message/retry_after from a metav1.Status; false when the body is not one.
bool decode_status(std::string_view body, Error& e) {
  auto parsed = parse_json(body, "Status");
  if (!parsed.ok() || !parsed->is_object()) return false;
  const nlohmann::json& j = *parsed;
  const auto kind = opt_string(j, "kind", "kind");
  if (!kind.ok() || kind->value_or("") != "Status") return false;
  const auto reason = opt_string(j, "reason", "reason");
  const auto message = opt_string(j, "message", "message");
  if (reason.ok()) e.reason = bounded(reason->value_or(""), kMaxReason);
  if (message.ok()) e.message = bounded(message->value_or(""), kMaxMessage);
  const auto details = opt_object(j, "details", "details");
  if (details.ok() && *details != nullptr) {
    const auto secs = opt_int64(**details, "retryAfterSeconds", "details.retryAfterSeconds");
    // Clamped here, in seconds: converting 2^63-1 s to any finer unit overflows.
    if (secs.ok() && secs->has_value() && **secs > 0)
      e.retry_after = std::chrono::seconds(std::min<std::int64_t>(**secs, kMaxRetryAfter.count()));
  }
  return true;
}

// Appends server-supplied text with control characters (newlines above all) replaced by
// spaces: describe() feeds a line-oriented log, and reason/message come off the wire.
void append_one_line(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto uc = static_cast<unsigned char>(c);
    out += (uc < 0x20 || uc == 0x7f) ? ' ' : c;
  }
}

}  // namespace

const std::error_category& kube_category() noexcept {
  static const KubeCategory category;
  return category;
}

std::error_code make_error_code(ErrorKind k) noexcept { return {static_cast<int>(k), kube_category()}; }

const char* to_string(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::transport: return "transport";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::bad_response: return "bad_response";
    case ErrorKind::bad_request: return "bad_request";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::forbidden: return "forbidden";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::gone: return "gone";
    case ErrorKind::invalid: return "invalid";
    case ErrorKind::too_many_requests: return "too_many_requests";
    case ErrorKind::server_error: return "server_error";
    case ErrorKind::http_other: return "http_other";
    case ErrorKind::config: return "config";
  }
  return "unknown";
}

Error local_error(ErrorKind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

ErrorKind kind_for_status(int http_status) noexcept {
  switch (http_status) {
    case 400: return ErrorKind::bad_request;
    case 401: return ErrorKind::unauthorized;
    case 403: return ErrorKind::forbidden;
    case 404: return ErrorKind::not_found;
    case 409: return ErrorKind::conflict;
    case 410: return ErrorKind::gone;
    case 422: return ErrorKind::invalid;
    case 429: return ErrorKind::too_many_requests;
    default: break;
  }
  if (http_status >= 500 && http_status <= 599) return ErrorKind::server_error;
  return ErrorKind::http_other;
}

Error error_from_response(int http_status, std::string_view body, std::string_view retry_after_header) {
  Error e;
  e.kind = kind_for_status(http_status);
  e.http_status = http_status;
  if (!decode_status(body, e)) e.message = one_line_excerpt(body);
  // The header is what the server's rate limiter set for this very response; prefer it.
  const auto header = parse_retry_after(retry_after_header);
  if (header.count() > 0) e.retry_after = header;
  return e;
}

std::string Error::describe() const {
  std::string out = to_string(kind);
  if (http_status != 0 || !reason.empty()) {
    out += " (";
    if (http_status != 0) out += std::to_string(http_status);
    if (http_status != 0 && !reason.empty()) out += ' ';
    append_one_line(out, bounded(reason, kMaxReason));
    out += ')';
  }
  if (!message.empty()) {
    out += ": ";
    append_one_line(out, bounded(message, kMaxMessage));
  }
  if (retry_after.count() > 0) out += " (retry after " + std::to_string(retry_after.count()) + "s)";
  return out;
}

}  // namespace kle::api
