#!/usr/bin/env bash
# clang-tidy over our own sources (pkg/ and cmd/) using the build's compile_commands.json.
# Usage: hack/lint.sh BUILD_DIR. Exits non-zero when clang-tidy reports a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/dev}
[ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json: run make build" >&2; exit 1; }
command -v clang-tidy >/dev/null || { echo "lint: clang-tidy missing (hack/deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files 'pkg/*.cpp' 'cmd/*.cpp')
out=$(mktemp)
# GCC-only flags confuse clang; -fcoroutines is implied by -std=c++20 in clang 14.
clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option \
  --extra-arg=-Wno-unused-command-line-argument "${files[@]}" >"$out" 2>/dev/null || true
warnings=$(grep -cE '(warning|error):' "$out" || true)
grep -E '(warning|error):' "$out" | sort -u | head -50
echo "lint: $warnings warnings in ${#files[@]} files"
[ "$warnings" -eq 0 ]
