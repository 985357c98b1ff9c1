#!/usr/bin/env bash
# Fault campaigns (issue #7) against the real control plane of tests/cluster/up:
# apiserver freeze and restart, a partition of the leader (TCP proxy per elector), bad
# responses to the leader's renewals (409, 429 with Retry-After, 500, torn, closed, slow;
# a TLS-terminating proxy, faultproxy.py), token rotation and revocation, hand edits and deletes of the Lease, a wall clock 5h off, and a
# loop of forced transitions. Every campaign ends with tests/chaos/check_intervals.py over
# what it recorded (no two leaders, no two labelled pods beyond one round trip).
#   tests/chaos/run.sh [--short|--long] [--only NAME]... [--transitions N]
#     --short  CI form (default): 30 forced transitions, ~4.5 minutes
#     --long   the same campaigns with 1000 forced transitions
# Needs KLE_CLUSTER_DIR (a running cluster) and BUILD_DIR (or KLE_BIN); python3 and, for the
# clock campaign, Debian's faketime (libfaketime). Records go to $CHAOS_OUT (default: a
# fresh directory under /tmp), kept for post-mortems. The last line is `N passed, M failed`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set: start a cluster with tests/cluster/up}"
[ -f "$KLE_CLUSTER_DIR/env" ] || { echo "chaos: no $KLE_CLUSTER_DIR/env: is the cluster up?" >&2; exit 1; }
if [ -z "${KLE_BIN:-}" ]; then
  : "${BUILD_DIR:?BUILD_DIR (or KLE_BIN) is not set}"
  KLE_BIN="$BUILD_DIR/cmd/leader-elector/leader-elector"
fi
[ -x "$KLE_BIN" ] || { echo "chaos: leader-elector binary missing at $KLE_BIN" >&2; exit 1; }
command -v python3 >/dev/null || { echo "chaos: python3 is required" >&2; exit 1; }
out="${CHAOS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/kle-chaos.XXXXXX")}"
mkdir -p "$out"
export KLE_CLUSTER_DIR
exec python3 -u "$here/campaigns.py" --bin "$KLE_BIN" --out "$out" "$@"
