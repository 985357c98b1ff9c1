#!/usr/bin/env bash
# Installs the Debian packages that `make image` and tests/node/up need, on top of hack/deps.sh:
# the image build (podman/buildah, mmdebstrap) and the real node (containerd, runc, CNI plugins,
# iptables for kube-proxy, conntrack). Idempotent: runs no apt-get when everything is there.
# No service is started (no systemd here; tests/node/up starts containerd itself).
set -euo pipefail

packages=(
  podman buildah mmdebstrap uidmap fuse-overlayfs
  containerd runc containernetworking-plugins iptables conntrack
  gcc libc6-dev util-linux iproute2 openssl jq curl
)

. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
ensure_debian_packages node-deps "${packages[@]}"
