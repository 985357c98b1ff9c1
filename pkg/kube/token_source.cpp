#include <kle/kube/config.hpp>
#include "config_detail.hpp"

namespace kle::kube {

TokenSource::TokenSource(std::string_view static_token, std::string token_file, std::chrono::seconds refresh,
                         RefusalHandler on_refused)
    : file_(std::move(token_file)), refresh_(refresh), on_refused_(std::move(on_refused)) {
  // The loaders refuse such a token at start-up; this guards a hand-built ClusterConfig.
  std::string t = detail::trim(static_token);
  if (auto why = detail::bearer_token_problem(t); !why.empty())
    refused_ = detail::config_error("the configured bearer token " + why);
  else
    token_ = std::move(t);
}

Result<std::string> TokenSource::token(Clock::time_point now) {
  if (!file_.empty() && (!last_read_ || now - *last_read_ >= refresh_)) {
    // The attempt counts even when it fails: a broken mount is retried once per interval,
    // not on every request, and the last good token keeps serving meanwhile.
    last_read_ = now;
    reread();
  }
  if (token_.empty() && refused_) return *refused_;
  return token_;
}

void TokenSource::reread() {
  std::string err;
  const auto content = detail::read_file(file_, err);
  if (!content) return;
  // Surrounding whitespace is trimmed as client-go does (strings.TrimSpace): editors and
  // `echo` add a newline. Whatever is left must fit in a header value as it is.
  std::string t = detail::trim(*content);
  if (t.empty()) return;
  if (auto why = detail::bearer_token_problem(t); !why.empty()) {
    const std::string reason = "token file " + file_ + " " + why;
    if (token_.empty()) refused_ = detail::config_error(reason);
    if (on_refused_) on_refused_(reason + (token_.empty() ? "" : "; keeping the last good token"));
    return;
  }
  token_ = std::move(t);
}

}  // namespace kle::kube
