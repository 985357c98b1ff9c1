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

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "node-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "node-deps: installing ${missing[*]}"
# Other engineers' hack/deps.sh may hold the dpkg lock: wait for it rather than fail.
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends "${missing[@]}"
