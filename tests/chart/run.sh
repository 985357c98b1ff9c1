#!/usr/bin/env bash
# Runs every tests/chart/test_*.sh and prints `N passed, M failed` (one per script).
# Environment:
#   LEADER_ELECTOR_BIN  binary for test_dockerfile_libs.sh (default: build/release, then build/dev;
#                       when neither exists that test fails, saying so)
#   KLE_METRICS_URL     a live /metrics URL or file for test_metric_names.sh (optional)
#   HELM                helm binary (default: hack/controlplane's cache path)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin="${LEADER_ELECTOR_BIN:-}"
if [ -z "$bin" ]; then
  for preset in release dev; do
    cand="$repo/build/$preset/cmd/leader-elector/leader-elector"
    if [ -x "$cand" ]; then bin="$cand"; break; fi
  done
  bin="${bin:-$repo/build/release/cmd/leader-elector/leader-elector}"
fi

passed=0 failed=0 failures=()
for t in "$here"/test_*.sh; do
  name="$(basename "$t")"
  args=()
  case "$name" in
    test_dockerfile_libs.sh) args=("$bin") ;;
    test_metric_names.sh) [ -n "${KLE_METRICS_URL:-}" ] && args=("$KLE_METRICS_URL") ;;
  esac
  echo "=== $name ${args[*]:-}"
  if bash "$t" "${args[@]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
done
echo "=== tests/chart: $passed passed, $failed failed${failures:+ (${failures[*]})}"
[ "$failed" -eq 0 ]
