#pragma once
// Internals shared by config.cpp (in-cluster, discovery) and kubeconfig.cpp. Not part of
// the kube API; exposed in a header only so the unit tests can pin their edge cases.
#include <optional>
#include <string>
#include <string_view>

#include "api/error.hpp"

namespace kle::kube::detail {

api::Error config_error(std::string message);
// The whole file, or nullopt with `error` = "cannot read PATH: REASON".
std::optional<std::string> read_file(const std::string& path, std::string& error);
std::string trim(std::string_view s);
bool valid_port(std::string_view port);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace kle::kube::detail
