#!/usr/bin/env bash
# Two builds of bench/many-leases leading N Leases each, side by side on one control plane and
# over the same window, for a CPU comparison that sitting-to-sitting noise cannot fake (one run
# after the other, bench/many-leases.sh's CPU figures move by 10-40% on this 2-core machine).
#   KLE_CLUSTER_DIR=... bench/many-leases-pair.sh [--count N] [--settle S] [--window S] BUILD_A BUILD_B
# Prints, per build: CPU ms per minute of the leader process over the window (utime + stime
# from /proc/PID/stat) and its status line (leading, lost, heap) at the end of the window.
# Both compete for the same two cores, so each figure is above what it is alone; the ratio is
# the point. Needs a running cluster (tests/cluster/up) and both builds' many-leases target.
set -euo pipefail
count=1000 settle=60 window=90
while [ $# -gt 2 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --settle) settle="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    *) echo "many-leases-pair: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--count N] [--settle S] [--window S] BUILD_A BUILD_B" >&2; exit 2; }
: "${KLE_CLUSTER_DIR:?start a cluster first (tests/cluster/up) and export KLE_CLUSTER_DIR}"
# shellcheck source=/dev/null  # the cluster's env, written by tests/cluster/up
. "$KLE_CLUSTER_DIR/env"
hz=$(getconf CLK_TCK)
out=$(mktemp -d /tmp/kle-pair.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
i=0
for build in "$1" "$2"; do
  bin="$build/bench/many-leases"
  [ -x "$bin" ] || { echo "many-leases-pair: $bin is not built (cmake --build $build --target many-leases)" >&2; exit 1; }
  ns="pair-$i-$$"
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" create namespace "$ns" >/dev/null
  "$bin" --kubeconfig "$KLE_ADMIN_KUBECONFIG" --namespace "$ns" --prefix s --count "$count" --id L >"$out/$i.out" 2>&1 &
  pids+=($!)
  i=$((i + 1))
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep "$settle"
a0=$(ticks "${pids[0]}"); b0=$(ticks "${pids[1]}")
sleep "$window"
a1=$(ticks "${pids[0]}"); b1=$(ticks "${pids[1]}")
kill -USR1 "${pids[0]}" "${pids[1]}"
sleep 1
i=0
for d in $((a1 - a0)) $((b1 - b0)); do
  build=$([ $i -eq 0 ] && echo "$1" || echo "$2")
  echo "$build: leader CPU $((d * 1000 * 60 / hz / window)) ms/min; $(grep status "$out/$i.out" | tail -1)"
  i=$((i + 1))
done
