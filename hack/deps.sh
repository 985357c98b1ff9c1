#!/usr/bin/env bash
# Installs exactly the Debian packages the build, the tests and the demo need.
# Idempotent and quick: when every package is already installed it runs no apt-get at all.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config git ca-certificates curl jq openssl iproute2 procps
  libboost1.81-dev libboost-program-options1.81-dev libssl-dev
  nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev catch2
  clang-tidy prometheus faketime python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
