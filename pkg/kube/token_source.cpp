#include "kube/config.hpp"
#include "kube/config_detail.hpp"

namespace kle::kube {

TokenSource::TokenSource(std::string_view static_token, std::string token_file, std::chrono::seconds refresh)
    : token_(detail::trim(static_token)), file_(std::move(token_file)), refresh_(refresh) {}

const std::string& TokenSource::token(Clock::time_point now) {
  if (file_.empty()) return token_;
  if (last_read_ && now - *last_read_ < refresh_) return token_;
  // The attempt counts even when it fails: a broken mount is retried once per interval,
  // not on every request, and the last good token keeps serving meanwhile.
  last_read_ = now;
  std::string err;
  const auto content = detail::read_file(file_, err);
  if (!content) return token_;
  // Surrounding whitespace is trimmed as client-go does (strings.TrimSpace): editors and
  // `echo` add a newline, and a header value must not carry one.
  std::string t = detail::trim(*content);
  if (!t.empty()) token_ = std::move(t);
  return token_;
}

}  // namespace kle::kube
