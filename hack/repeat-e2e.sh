#!/usr/bin/env bash
# Runs e2e scripts again and again against one cluster, to find the ones that fail only
# sometimes (usually on a loaded machine: run it beside `.ci/run` or `stress-ng`).
#   KLE_CLUSTER_DIR=/tmp/c BUILD_DIR=build/dev hack/repeat-e2e.sh ROUNDS [script.sh ...]
# With no scripts it runs every tests/e2e/*.sh. Each run's output is kept in
# ${OUT:-/tmp/repeat-e2e}/<script>.<round>.log; the last line is a pass/fail count per script.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 ROUNDS [script.sh ...]" >&2; exit 2; }
rounds="$1"; shift
: "${KLE_CLUSTER_DIR:?set KLE_CLUSTER_DIR to a cluster started by tests/cluster/up}"
: "${BUILD_DIR:?set BUILD_DIR to a build directory}"
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
export KLE_CLUSTER_DIR BUILD_DIR
out="${OUT:-/tmp/repeat-e2e}"
mkdir -p "$out"
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || for t in "$repo"/tests/e2e/*.sh; do scripts+=("$(basename "$t")"); done
declare -A fails=()
for ((r = 1; r <= rounds; r++)); do
  for s in "${scripts[@]}"; do
    log="$out/$s.$r.log"
    if "$repo/tests/e2e/$s" >"$log" 2>&1; then
      echo "[$(date -u +%H:%M:%S)] round $r $s passed"
    else
      fails[$s]=$(( ${fails[$s]:-0} + 1 ))
      echo "[$(date -u +%H:%M:%S)] round $r $s FAILED: $(grep -m1 -E 'FAIL' "$log" | cut -c1-200) ($log)"
    fi
  done
done
summary=""
for s in "${scripts[@]}"; do summary+=" $s ${fails[$s]:-0}/$rounds failed;"; done
echo "summary:$summary"
