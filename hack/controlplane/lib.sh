# shellcheck shell=bash
# Shared by the hack/controlplane scripts and tests/cluster: versions, cache layout, logging.
# Source it; it defines functions and variables only.
CP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$CP_DIR/versions.env"
KLE_CACHE="${KLE_CACHE:-$HOME/.cache/kube-leader-elector}"

cp_log() { printf '[controlplane %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cp_die() { cp_log "ERROR: $*"; exit 1; }

# Every binary we can build, with the version that keys its cache directory.
cp_components=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm kwok)
# Built only when asked for (tests/node/up does): a real node's kubelet and kube-proxy, from the
# same k8s wrapper module, so `make tools` stays as cheap as before.
cp_node_components=(kubelet kube-proxy)

cp_version_of() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy)
      echo "$KUBE_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    *) return 1 ;;
  esac
}

# $KLE_CACHE/bin/<name>-<version>/<name>: a version bump gets a fresh directory, so a stale
# binary is never reused.
cp_bin_path() {
  local v
  v="$(cp_version_of "$1")" ||
    cp_die "unknown component '$1' (known: ${cp_components[*]} ${cp_node_components[*]})"
  echo "$KLE_CACHE/bin/$1-$v/$1"
}
