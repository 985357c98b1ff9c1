#pragma once
// A lexical bound on YAML nesting, checked before yaml-cpp parses a kubeconfig. yaml-cpp
// 0.7's scanner needs about 10 s for 1 MB of nested flow collections ("[[[[...") and then
// reports only "bad file"; this pass is linear and names the line.
#include <cstddef>
#include <optional>
#include <string_view>

namespace kle::kube::detail {

// The first line (1-based) where collections nest deeper than max_depth, or nullopt.
// One level per block sequence or mapping (found from indentation and the "- ", "? " and
// "key: " indicators) and per flow "[" or "{"; quoted scalars, block scalars and comments
// are skipped. It follows YAML's structure closely enough for real documents, but it is
// a bound, not a validator: syntax errors are left to the parser.
std::optional<std::size_t> yaml_too_deep(std::string_view text, std::size_t max_depth);

}  // namespace kle::kube::detail
