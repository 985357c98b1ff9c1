#!/usr/bin/env bash
# manifests/ and monitoring/ hold files rendered from the chart by hack/render-manifests.sh.
# Renders them afresh into a temporary directory and fails on any difference (fix: run
# hack/render-manifests.sh and commit the result).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "manifests/ and monitoring/ in sync with the chart"
HELM="$HELM_BIN" "$KLE_REPO/hack/render-manifests.sh" "$tmp" >/dev/null
for f in manifests/leader-elector.yaml monitoring/prometheus-rules.yaml monitoring/grafana-dashboard.json; do
  if [ ! -f "$KLE_REPO/$f" ]; then
    not_ok "$f is missing (run hack/render-manifests.sh)"
  elif diff -u "$KLE_REPO/$f" "$tmp/$f" >"$tmp/diff"; then
    ok "$f matches a fresh render"
  else
    not_ok "$f differs from a fresh render (run hack/render-manifests.sh):"
    head -40 "$tmp/diff"
  fi
done
# Nothing else generated may sit in manifests/ unnoticed: only the render and the hand-written RBAC example.
extra="$(find "$KLE_REPO/manifests" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort |
  grep -v -x -e leader-elector.yaml -e rbac-example.yaml || true)"
check "manifests/ holds only leader-elector.yaml and rbac-example.yaml${extra:+ (also: $extra)}" test -z "$extra"
render_json --show-only templates/deployment.yaml >"$tmp/dep.json"
check "the render is the default install: 3 replicas, release leader-elector in namespace default" \
  quiet jq -e '.spec.replicas == 3 and .metadata.name == "leader-elector" and .metadata.namespace == "default"' "$tmp/dep.json"
t_finish
