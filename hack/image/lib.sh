# shellcheck shell=bash disable=SC2034  # IMG_NAME, IMG_TAG, ... are for the scripts that source this
# Shared by hack/image/*.sh and tests/node: where the private podman storage and the archives
# live, and a podman that uses them. Source it; it defines functions and variables only.
IMG_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KLE_CACHE="${KLE_CACHE:-$HOME/.cache/kube-leader-elector}"
# Everything of ours: podman storage (graphroot/runroot), its config, base tarballs, archives.
KLE_IMAGE_DIR="${KLE_IMAGE_DIR:-$KLE_CACHE/image}"
IMG_ARCHIVES="$KLE_IMAGE_DIR/archives"
# The binary as shipped in the image, copied out by build.sh: tests/chart/test_dockerfile_libs.sh
# checks the runtime stage against what this binary (not a dev build) needs.
IMG_BINARY="$IMG_ARCHIVES/leader-elector.bin"

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

# img_static_scratch NAME IMAGE BINARY: compiles hack/image/NAME/NAME.c (or app.c) statically
# into a FROM-scratch image built from hack/image/NAME/Containerfile, and saves it as
# $IMG_ARCHIVES/NAME.tar for `ctr images import`. Cached: skipped when the archive exists.
img_static_scratch() {
  local name=$1 image=$2 binary=$3 src
  local out="$IMG_ARCHIVES/$name.tar"
  if [ -s "$out" ] && img_exists "$image" && [ "${KLE_IMAGE_REFRESH:-0}" != 1 ]; then
    img_log "$image: cached at $out"; return 0
  fi
  src="$IMG_REPO/hack/image/$name"
  local ctx; ctx="$(mktemp -d "$KLE_IMAGE_DIR/$name.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: ctx is local
  trap "rm -rf '$ctx'" EXIT
  gcc -O2 -static -o "$ctx/$binary" "$src/$( [ -f "$src/$name.c" ] && echo "$name.c" || echo app.c)" ||
    img_die "cannot build the static $name binary (gcc and libc6-dev: hack/node-deps.sh)"
  strip "$ctx/$binary"
  cp "$src/Containerfile" "$ctx/"
  img_podman build --quiet --pull=never --network=none -t "$image" "$ctx" >/dev/null
  rm -f "$out.tmp"
  img_podman save --quiet --format docker-archive -o "$out.tmp" "$image"
  mv -f "$out.tmp" "$out"
  img_log "$image -> $out"
}
