#!/usr/bin/env bash
# Sidecar mode on the real node: a real application container (kle.local/demo-app:1, a tiny
# HTTP server answering {"app":"<pod name>"}, hack/image/demo-app.sh) runs next to the elector
# in each of 3 pods. Every pod's app answers on its pod IP, but the leader Service reaches the
# app of the leading pod only: 50 requests all answer with the Lease holder's name, and after a
# `kubectl delete pod` of the leader, the Service answers from the new holder (time printed).
# Env: KLE_CLUSTER_DIR (default ${TMPDIR:-/tmp}/kle-e2e-sidecar-<user>). Not in tests/e2e/: `make test`
# runs it after real_node.sh (hack/test-all.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KLE_CLUSTER_DIR="${KLE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kle-e2e-sidecar-$(id -un)}"
# shellcheck disable=SC2034  # E2E_TAG is read by lib.sh
NS=kle-sidecar REL=kle E2E_TAG=sidecar
# shellcheck source=lib.sh
. "$HERE/lib.sh"
cleanup() {
  local rc=$?
  "$KLE_REPO/tests/node/down" || true
  if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAILED (exit $rc); logs in $N/logs"; fi
}

for a in "leader-elector-$IMG_TAG.tar:make image" "demo-app.tar:hack/image/demo-app.sh"; do
  [ -s "$IMG_ARCHIVES/${a%%:*}" ] || fail "no image archive $IMG_ARCHIVES/${a%%:*}: run ${a#*:}"
done
trap cleanup EXIT
"$KLE_REPO/tests/node/up" >/dev/null
mkdir -p "$N/e2e"
cat >"$N/e2e/sidecar-values.yaml" <<VALUES
replicaCount: 3
image: {pullPolicy: Never, tag: "$IMG_TAG"}
nodeSelector: {kubernetes.io/hostname: $NODE_NAME}
sidecar:
  enabled: true
  container:
    name: app
    image: $DEMO_APP_IMAGE
    imagePullPolicy: Never
    args: ["8081"]
    ports: [{name: app, containerPort: 8081}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
VALUES
X helm install "$REL" "$KLE_REPO/charts/leader-elector" -n "$NS" --create-namespace \
  -f "$N/e2e/sidecar-values.yaml" >/dev/null || fail "helm install (sidecar mode) failed"
k rollout status deploy/"$APP" --timeout=300s >/dev/null || { k get pods -o wide >&2; fail "pods not Ready"; }
e2e_chart_facts
app_at() { X curl -fsS --max-time 1 "http://$1/" 2>/dev/null | jq -r .app 2>/dev/null || true; }

deadline=$((SECONDS + 120))
until h="$(holder)" && [ -n "$h" ] && [ "$(labelled)" = "$h" ] && [ "$(app_at "$SVC")" = "$h" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { k get pods -o wide >&2; fail "no leader reachable through $SVC after 120s"; }
  sleep 1
done
k get pods -o wide >&2
# Every pod's app runs (answers on its own pod IP with its own name) ...
for p in $(k get pods -l "$SEL" -o jsonpath='{.items[*].metadata.name}'); do
  ip="$(k get pod "$p" -o jsonpath='{.status.podIP}')"
  [ "$(app_at "$ip:8081")" = "$p" ] || fail "the app in $p does not answer on $ip:8081"
done
# ... but the leader Service reaches only the leader's.
h="$(holder)"; bad=0
for _ in $(seq 1 50); do [ "$(app_at "$SVC")" = "$h" ] || bad=$((bad + 1)); done
[ "$bad" -eq 0 ] || fail "$bad of 50 requests to the leader Service did not reach the app of $h"
log "all 3 apps run; 50/50 requests to the leader Service $SVC reached the app of the leader $h"

t0="$(now_ms)"
k delete pod "$h" --wait=false >/dev/null
deadline=$((SECONDS + 120))
until a="$(app_at "$SVC")" && [ -n "$a" ] && [ "$a" != "$h" ] && [ "$a" = "$(holder)" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the Service did not reach a new leader's app within 120s"
  sleep 0.05
done
log "after kubectl delete pod $h: the Service reached the app of the new leader $a after $(( $(now_ms) - t0 )) ms"
