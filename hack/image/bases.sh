#!/usr/bin/env bash
# Makes the Dockerfile's base images locally from Debian packages, under the exact names the
# Dockerfile uses, in the private podman storage (hack/image/lib.sh). No registry is contacted.
#   debian:<point release>             mmdebstrap --variant=minbase, like the official image
#   gcr.io/distroless/cc-debian12:nonroot   mmdebstrap --variant=extract of the packages
#                                      distroless/cc ships, plus its users (distroless-hook.sh)
# Cached: an image already in the storage is kept; the tarballs are kept too
# (KLE_IMAGE_REFRESH=1 rebuilds both). mmdebstrap reaches the live mirror, which serves the
# newest bookworm point release; the Dockerfile's debian:<tag> must name that release, else this
# fails and says which release the mirror serves now.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
img_setup

SUITE=bookworm
SOURCES=("deb http://deb.debian.org/debian $SUITE main"
         "deb http://deb.debian.org/debian $SUITE-updates main"
         "deb http://deb.debian.org/debian-security $SUITE-security main")
bases="$KLE_IMAGE_DIR/bases"; mkdir -p "$bases"
command -v mmdebstrap >/dev/null || img_die "mmdebstrap not found: run hack/node-deps.sh"

debian_base() {
  local ref="$1" want tar got
  want="${ref##*:}"
  [[ "$want" =~ ^12\.[0-9]+$ ]] || img_die "Dockerfile FROM $ref: expected debian:12.<point release>"
  tar="$bases/debian-$want.tar"
  if [ ! -s "$tar" ] || [ "${KLE_IMAGE_REFRESH:-0}" = 1 ]; then
    img_log "mmdebstrap minbase $SUITE -> $tar (a few minutes)"
    # shellcheck disable=SC2016  # "$1" is for the hook's own shell (mmdebstrap's root), not ours
    mmdebstrap --quiet --variant=minbase --format=tar \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      "$SUITE" "$tar.tmp" "${SOURCES[@]}" || { rm -f "$tar.tmp"; img_die "mmdebstrap (debian) failed"; }
    mv -f "$tar.tmp" "$tar"
  fi
  got="$(tar -xOf "$tar" ./etc/debian_version)"
  if [ "$got" != "$want" ]; then
    rm -f "$tar"
    img_die "the mirror serves Debian $got, but the Dockerfile says FROM $ref: a local stand-in" \
      "would carry the wrong name. Change the Dockerfile to FROM debian:$got (and the mutant in" \
      "tests/chart/test_dockerfile_lint.sh), then run make image again."
  fi
  img_podman import --quiet --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "docker.io/library/debian:$want" >/dev/null
  img_log "imported docker.io/library/debian:$want (Debian $got)"
}

distroless_base() {
  local ref="$1" tar="$bases/distroless-cc-debian12.tar"
  if [ ! -s "$tar" ] || [ "${KLE_IMAGE_REFRESH:-0}" = 1 ]; then
    img_log "mmdebstrap extract (distroless/cc packages) -> $tar"
    mmdebstrap --quiet --variant=extract --format=tar \
      --include=base-files,netbase,libc6,libssl3,libgcc-s1,libgomp1,libstdc++6 \
      --extract-hook="$IMG_REPO/hack/image/distroless-hook.sh \"\$1\"" \
      "$SUITE" "$tar.tmp" "${SOURCES[@]}" || { rm -f "$tar.tmp"; img_die "mmdebstrap (distroless) failed"; }
    mv -f "$tar.tmp" "$tar"
  fi
  img_podman import --quiet --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    "$tar" "$ref" >/dev/null
  img_log "imported $ref"
}

for ref in $(img_from_images); do
  case "$ref" in
    debian:*|docker.io/library/debian:*) full="docker.io/library/debian:${ref##*:}" ;;
    gcr.io/distroless/cc-debian12:nonroot) full="$ref" ;;
    *) grep -qiE "^FROM .* AS $ref\$" "$IMG_REPO/Dockerfile" && continue
       img_die "Dockerfile FROM $ref: no local recipe for this base image (hack/image/bases.sh)" ;;
  esac
  if img_exists "$full" && [ "${KLE_IMAGE_REFRESH:-0}" != 1 ]; then
    img_log "$full: cached in $KLE_IMAGE_DIR, skipping"; continue
  fi
  case "$full" in
    docker.io/library/debian:*) debian_base "$ref" ;;
    *) distroless_base "$full" ;;
  esac
done
