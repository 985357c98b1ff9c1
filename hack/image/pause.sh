#!/usr/bin/env bash
# The pod sandbox image containerd needs (sandbox_image), made locally: a static pause binary
# in a FROM-scratch image named registry.k8s.io/pause:3.10, saved as an archive that
# `ctr images import` reads. Cached: skipped when the archive exists.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
img_setup
out="$IMG_ARCHIVES/pause.tar"
if [ -s "$out" ] && img_exists "$PAUSE_IMAGE" && [ "${KLE_IMAGE_REFRESH:-0}" != 1 ]; then
  img_log "$PAUSE_IMAGE: cached at $out"; exit 0
fi
ctx="$(mktemp -d "$KLE_IMAGE_DIR/pause.XXXXXX")"; trap 'rm -rf "$ctx"' EXIT
gcc -O2 -static -o "$ctx/pause" "$IMG_REPO/hack/image/pause/pause.c" ||
  img_die "cannot build the static pause binary (gcc and libc6-dev: hack/node-deps.sh)"
strip "$ctx/pause"
cp "$IMG_REPO/hack/image/pause/Containerfile" "$ctx/"
img_podman build --quiet --pull=never --network=none -t "$PAUSE_IMAGE" "$ctx" >/dev/null
rm -f "$out.tmp"
img_podman save --quiet --format docker-archive -o "$out.tmp" "$PAUSE_IMAGE"
mv -f "$out.tmp" "$out"
img_log "$PAUSE_IMAGE -> $out"
