#!/usr/bin/env bash
# The pod sandbox image containerd needs (sandbox_image), made locally: a static pause binary
# in a FROM-scratch image named registry.k8s.io/pause:3.10, saved as an archive that
# `ctr images import` reads. Cached: skipped when the archive exists.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
img_setup
img_static_scratch pause "$PAUSE_IMAGE" pause
