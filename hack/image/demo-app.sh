#!/usr/bin/env bash
# The sidecar-mode demo application (demo-app/app.c), made locally: a static HTTP server
# in a FROM-scratch image named kle.local/demo-app:1, saved as an archive that
# `ctr images import` reads. Cached: skipped when the archive exists.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
img_setup
img_static_scratch demo-app "$DEMO_APP_IMAGE" app
