#pragma once
// Internals shared by config.cpp (in-cluster, discovery), kubeconfig.cpp and token_source.cpp.
// Not part of the kube API; exposed in a header only so the unit tests can pin their edge cases.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <kle/api/error.hpp>

namespace kle::kube::detail {

// Every file the config names (kubeconfig, token, CA, client certificate and key) is read
// whole into memory: a mistaken path (/dev/zero, a log file) must fail, not exhaust memory.
inline constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;
// A kubeconfig with a single context is a few kilobytes, one with a hundred clusters and
// their certificates a few hundred; past 1 MiB yaml-cpp's parse time reaches seconds.
inline constexpr std::size_t kMaxKubeconfigBytes = std::size_t{1} << 20;
// Real kubeconfigs nest about 6 levels (extensions a few more).
inline constexpr std::size_t kMaxKubeconfigDepth = 64;

api::Error config_error(std::string message);
// The whole file, or nullopt with `error` = "cannot read PATH: REASON" (REASON names the
// limit when the file is larger than max_bytes).
std::optional<std::string> read_file(const std::string& path, std::string& error,
                                     std::size_t max_bytes = kMaxFileBytes);
std::string trim(std::string_view s);
bool valid_port(std::string_view port);
std::optional<std::string> base64_decode(std::string_view in);

// Why `token` (already trimmed) cannot be sent as "Authorization: Bearer TOKEN", or empty
// when it can. Only visible ASCII is allowed: a CR or LF would end the header and let the
// token's source inject headers into every request, and a space, tab, control character or
// non-ASCII byte is never part of a valid bearer token. The reason names the byte and its
// offset, never the token itself.
std::string bearer_token_problem(std::string_view token);

}  // namespace kle::kube::detail
