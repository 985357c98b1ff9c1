#!/usr/bin/env bash
# Integration and end-to-end suites against a real control plane (`make test-integration`).
#   tests/run-integration.sh BUILD_DIR
# Starts a fresh cluster in its own directory (so it never collides with a developer's
# `tests/cluster/up`), always stops it again, then runs
#   1. a smoke check: `kubectl get leases -A` as admin, and a read as the restricted account;
#   2. `ctest -L integration` in BUILD_DIR: zero tests found is a failure, not a pass;
#   3. every executable tests/e2e/*.sh, with KLE_CLUSTER_DIR and BUILD_DIR in the environment.
# Exit status is non-zero if any step fails. The cluster's logs are kept on failure.
# With a sanitizer build (BUILD_DIR=build/asan, `make test-integration-asan`) every report of
# every process, whoever started it and wherever its stderr went, is written under
# $KLE_CLUSTER_DIR/sanitizer/, and any report there fails the run, leaks at exit included.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD_DIR="$(cd "$1" 2>/dev/null && pwd)" || { echo "run-integration: no build dir '$1'" >&2; exit 2; }
export BUILD_DIR
KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-it-$(id -un)-$$"
export KLE_CLUSTER_DIR
# Outside the cluster directory, which `up` recreates; harmless for unsanitized binaries.
san_dir="${KLE_CLUSTER_DIR}-sanitizer"
rm -rf "$san_dir" && mkdir -p "$san_dir"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$san_dir/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$san_dir/ubsan"

log() { printf '[integration %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# What failed, named in the run's last line: CI shows only the tail of a failed stage, and the
# cluster's shutdown lines come after every test's own output.
failed=()

finish() {
  local rc=$?
  "$repo/tests/cluster/down" || rc=1
  if compgen -G "$san_dir/*" >/dev/null; then
    log "sanitizer reports (from $san_dir):"
    head -n 60 "$san_dir"/* >&2
    rc=1
  else
    rm -rf "$san_dir"
  fi
  if [ "$rc" -eq 0 ]; then
    rm -rf "$KLE_CLUSTER_DIR"
    log "PASSED"
  else
    log "FAILED (exit $rc)${failed[*]:+: ${failed[*]}}"
    [ ! -d "$KLE_CLUSTER_DIR/logs" ] || log "component logs: $KLE_CLUSTER_DIR/logs"
  fi
  exit "$rc"
}
trap finish EXIT

# Counting first: a suite that cannot run must fail loudly, and there is no point starting a
# cluster for nothing.
count="$(ctest --test-dir "$BUILD_DIR" -L integration -N | sed -n 's/^Total Tests: *//p')"
if [ -z "$count" ] || [ "$count" -eq 0 ]; then
  log "ctest found no tests labelled 'integration' in $BUILD_DIR: refusing to report success"
  exit 1
fi

"$repo/tests/cluster/up" >/dev/null
# shellcheck source=/dev/null
. "$KLE_CLUSTER_DIR/env"

log "smoke: kubectl get leases -A (admin), get leases -n $KLE_NAMESPACE (restricted)"
"$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" get leases -A >&2
# The restricted account may only `get` its own lease, which does not exist yet: NotFound
# (not Forbidden) proves the token, the CA and the RBAC binding all work.
out="$("$KLE_KUBECTL" --kubeconfig "$KLE_RESTRICTED_KUBECONFIG" -n "$KLE_NAMESPACE" \
  get lease "$KLE_LEASE" 2>&1 || true)"
case "$out" in
  *NotFound*|*"not found"*|NAME*) log "smoke: restricted account reaches its lease" ;;
  *) log "smoke: restricted account failed: $out"; exit 1 ;;
esac

log "ctest -L integration ($count tests)"
# A failed ctest does not stop the run: the e2e scripts after it are independent, and one CI
# run should report every failure it can. ctest's own list of failures is kept for the tail.
ctest_log="$(mktemp)"
if ! ctest --test-dir "$BUILD_DIR" -L integration --output-on-failure 2>&1 | tee "$ctest_log" >&2 \
    || ! grep -q '100% tests passed' "$ctest_log"; then
  while read -r name; do failed+=("ctest:$name"); done \
    < <(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' "$ctest_log")
  [ ${#failed[@]} -gt 0 ] || failed+=("ctest")
fi
rm -f "$ctest_log"

ran=0
for t in "$repo"/tests/e2e/*.sh; do
  [ -x "$t" ] || continue
  ran=$((ran + 1))
  log "e2e: $(basename "$t")"
  "$t" || failed+=("e2e:$(basename "$t")")
done
log "e2e: $ran script(s) run; failures so far: ${#failed[@]}${failed[*]:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
