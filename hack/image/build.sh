#!/usr/bin/env bash
# `make image`: builds the repository's Dockerfile, unmodified, the way `docker build .` would,
# with Debian's podman (buildah inside) and --pull=never, so no registry is ever contacted:
#   1. hack/node-deps.sh      podman, buildah, mmdebstrap, ... (Debian packages)
#   2. hack/image/bases.sh    the FROM images, made locally (cached)
#   3. podman build           into the private storage $KLE_IMAGE_DIR/containers (not
#                             /var/lib/containers), tagged like the chart's default image
#   4. podman save            $KLE_IMAGE_DIR/archives/leader-elector-<tag>.tar, a docker-archive
#                             that `ctr -n k8s.io images import` (containerd) and `docker load` read
#   5. podman cp              the image's binary to $KLE_IMAGE_DIR/archives/leader-elector.bin
# Env: KLE_IMAGE_DIR (default $KLE_CACHE/image = ~/.cache/kube-leader-elector/image),
#      KLE_IMAGE_REFRESH=1 (rebuild the base images too).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start=$SECONDS
"$IMG_REPO/hack/node-deps.sh" >&2
"$IMG_REPO/hack/image/bases.sh"
img_setup
ref="$IMG_NAME:$IMG_TAG"
img_log "podman build --pull=never -t $ref $IMG_REPO (compiles the release build inside)"
# --network=host: the RUN apt-get is the same traffic as the host's own apt-get.
img_podman build --pull=never --network=host --layers -t "$ref" -f "$IMG_REPO/Dockerfile" "$IMG_REPO" >&2 ||
  img_die "podman build failed (output above)"
out="$IMG_ARCHIVES/leader-elector-$IMG_TAG.tar"
rm -f "$out.tmp"
img_podman save --quiet --format docker-archive -o "$out.tmp" "$ref"
mv -f "$out.tmp" "$out"
# The shipped binary, for the runtime-libraries check (a container is created, never started).
cid="$(img_podman create --pull=never "$ref")"
copied=0
img_podman cp "$cid:/usr/local/bin/leader-elector" "$IMG_BINARY.tmp" && copied=1
img_podman rm "$cid" >/dev/null || true
[ "$copied" = 1 ] || img_die "could not copy /usr/local/bin/leader-elector out of $ref"
mv -f "$IMG_BINARY.tmp" "$IMG_BINARY"
# Build-stage layers stay in the storage on purpose: they are podman's cache for the next run.
img_log "$ref: $(img_podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f MB", $1/1e6}')," \
  "archive $out ($(du -m "$out" | cut -f1) MB), in $((SECONDS - start))s"
echo "$out"
