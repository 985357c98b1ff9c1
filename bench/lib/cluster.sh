# Shared by bench/failover-breakdown.sh and hack/measure-rss.sh: use the control plane in
# $KLE_CLUSTER_DIR if one is up there, else start a throw-away one (tests/cluster/up) that
# cluster_release stops again. bench/run.sh does the same inline (with a /readyz probe).
# shellcheck shell=bash

CLUSTER_OWNED=false
# cluster_ensure NAME: NAME names the throw-away cluster's directory under $TMPDIR.
cluster_ensure() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  [ -n "${KLE_CLUSTER_DIR:-}" ] && [ -f "$KLE_CLUSTER_DIR/env" ] && return 0
  KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-$1-$(id -un)-$$"
  export KLE_CLUSTER_DIR
  echo "starting a control plane in $KLE_CLUSTER_DIR" >&2
  "$repo/tests/cluster/up" >/dev/null
  CLUSTER_OWNED=true
}
cluster_release() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if $CLUSTER_OWNED; then "$repo/tests/cluster/down" >/dev/null 2>&1 || true; fi
}
