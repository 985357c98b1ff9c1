#!/usr/bin/env bash
# The sidecar-mode demo application (demo-app/app.c), made locally: a static HTTP server
# in a FROM-scratch image named kle.local/demo-app:1, saved as an archive that
# `ctr images import` reads. Cached: skipped when the archive exists.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
img_setup
out="$IMG_ARCHIVES/demo-app.tar"
if [ -s "$out" ] && img_exists "$DEMO_APP_IMAGE" && [ "${KLE_IMAGE_REFRESH:-0}" != 1 ]; then
  img_log "$DEMO_APP_IMAGE: cached at $out"; exit 0
fi
ctx="$(mktemp -d "$KLE_IMAGE_DIR/demo-app.XXXXXX")"; trap 'rm -rf "$ctx"' EXIT
gcc -O2 -static -o "$ctx/app" "$IMG_REPO/hack/image/demo-app/app.c" ||
  img_die "cannot build the static demo app (gcc and libc6-dev: hack/node-deps.sh)"
strip "$ctx/app"
cp "$IMG_REPO/hack/image/demo-app/Containerfile" "$ctx/"
img_podman build --quiet --pull=never --network=none -t "$DEMO_APP_IMAGE" "$ctx" >/dev/null
rm -f "$out.tmp"
img_podman save --quiet --format docker-archive -o "$out.tmp" "$DEMO_APP_IMAGE"
mv -f "$out.tmp" "$out"
img_log "$DEMO_APP_IMAGE -> $out"
