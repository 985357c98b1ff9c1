#!/usr/bin/env bash
# The short (CI) form of the fault campaigns in tests/chaos: every fault once, 30 forced
# transitions, under ~4 minutes. Run by tests/run-integration.sh with KLE_CLUSTER_DIR and
# BUILD_DIR set. The long form is `tests/chaos/run.sh --long`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Records go under the cluster's logs/, which run-integration keeps when something failed.
export CHAOS_OUT="${CHAOS_OUT:-${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set}/logs/chaos}"
exec tests/chaos/run.sh --short
