# Shared by hack/image/*.sh and tests/node: where the private podman storage and the archives
# live, and a podman that uses them. Source it; it defines functions and variables only.
IMG_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KLE_CACHE="${KLE_CACHE:-$HOME/.cache/kube-leader-elector}"
# Everything of ours: podman storage (graphroot/runroot), its config, base tarballs, archives.
KLE_IMAGE_DIR="${KLE_IMAGE_DIR:-$KLE_CACHE/image}"
IMG_ARCHIVES="$KLE_IMAGE_DIR/archives"

# The image the chart runs by default: <values.yaml image.repository>:<Chart.yaml appVersion>.
IMG_NAME="ghcr.io/kube-leader-elector/leader-elector"
IMG_TAG="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$IMG_REPO/charts/leader-elector/Chart.yaml")"
PAUSE_IMAGE="registry.k8s.io/pause:3.10"
DEMO_APP_IMAGE="kle.local/demo-app:1"   # sidecar mode: hack/image/demo-app.sh

img_log() { printf '[image %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
img_die() { img_log "ERROR: $*"; exit 1; }

# The base images the Dockerfile names, in order (FROM lines that are not earlier stages).
img_from_images() { awk 'toupper($1) == "FROM" { print $2 }' "$IMG_REPO/Dockerfile"; }

# Private podman config. Two machine quirks (see hack/image/README.md): crun refuses the hybrid
# cgroup layout, so runc; and there is no CAP_SYS_RESOURCE, so rlimits must not be raised.
img_setup() {
  local c="$KLE_IMAGE_DIR/containers"
  mkdir -p "$c/storage" "$c/run" "$c/tmp" "$c/net" "$IMG_ARCHIVES"
  cat >"$c/storage.conf.tmp" <<CONF
[storage]
driver = "overlay"
graphroot = "$c/storage"
runroot = "$c/run"
CONF
  cat >"$c/containers.conf.tmp" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[network]
network_config_dir = "$c/net"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$c/events.log"
tmp_dir = "$c/tmp"
CONF
  mv -f "$c/storage.conf.tmp" "$c/storage.conf"
  mv -f "$c/containers.conf.tmp" "$c/containers.conf"
  export CONTAINERS_STORAGE_CONF="$c/storage.conf" CONTAINERS_CONF="$c/containers.conf" \
         TMPDIR="$c/tmp"
}

# podman on the private storage. containers/image still writes its blob-info cache under
# /var/lib/containers/cache; if that directory did not exist before us, we remove it after.
img_podman() {
  local pre=1 rc=0
  [ -e /var/lib/containers ] || pre=0
  podman "$@" || rc=$?
  [ "$pre" -eq 1 ] || rm -rf /var/lib/containers
  return "$rc"
}

img_exists() { img_podman image exists "$1"; }
