#!/usr/bin/env bash
# Installs exactly the Debian packages the build, the tests and the demo need.
# Idempotent and quick: when every package is already installed it runs no apt-get at all.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config git ca-certificates curl jq openssl iproute2 procps
  libboost1.81-dev libboost-program-options1.81-dev libssl-dev
  nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev catch2
  clang-tidy shellcheck prometheus faketime python3
  dpkg-dev
)

. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
ensure_debian_packages deps "${packages[@]}"
