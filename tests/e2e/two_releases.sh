#!/usr/bin/env bash
# Two releases of the chart in one namespace with the same leader label (the default), on the
# real apiserver of tests/cluster/up. Each release's leader must clear stale labels only on
# its own release's pods (--pod-selector, which the chart fills with its selector labels), so
# both releases keep exactly one labelled pod, their own lease holder, for several reconcile
# periods, and no replica ever clears the other release's label.
# The admission policy is off here on purpose: with it, the apiserver would deny the other
# release's patches and hide the very bug this proves absent.
# Needs KLE_CLUSTER_DIR (eval "$(tests/cluster/up)") and BUILD_DIR; fails, never skips, without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The shared e2e helpers: cluster env and binary checks (fails loudly without them), KLE_BIN,
# now_ms, wait_until, free_port, and a fresh KLE_RUN_DIR for the replica logs.
. tests/e2e/lib/controllers.sh
# shellcheck source=tests/lib/kubeconfig.sh
. tests/lib/kubeconfig.sh
work="$KLE_RUN_DIR"
helm="${KLE_HELM:-$(hack/controlplane/bin-path.sh helm)}"
[ -x "$helm" ] || { echo "FAIL: helm not found at $helm" >&2; exit 1; }

ns="kle-two-$(date +%s)-$$"
releases=(alpha beta)
replicas=2
reconcile_s=2
label=leader-elector/leader=true
pids=()
k() { "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n "$ns" "$@"; }
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 8 "$f" >&2; }; done
  exit 1
}
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pods_of() { k get pods -l "app.kubernetes.io/instance=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort; }
labelled_of() {
  k get pods -l "app.kubernetes.io/instance=$1,$label" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}' | sed 's/ $//'
}
holder_of() { k get lease "$1-leader-elector" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
has_pods() { [ "$(pods_of "$1" | wc -l)" -eq "$replicas" ]; }
# The release's lease has a holder, and that pod (and no other pod of the release) is labelled.
own_leader_labelled() {
  local h
  h="$(holder_of "$1")"
  [ -n "$h" ] && [ "$(labelled_of "$1")" = "$h" ]
}
both_labelled() { own_leader_labelled alpha && own_leader_labelled beta; }

echo "two releases (${releases[*]}) with leader label $label in namespace $ns on $KLE_SERVER"
"$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" create namespace "$ns" >/dev/null
for r in "${releases[@]}"; do
  "$helm" --kubeconfig "$KLE_ADMIN_KUBECONFIG" install "$r" charts/leader-elector -n "$ns" \
    --set replicaCount="$replicas" --set admissionPolicy.enabled=false --set reconcileInterval="${reconcile_s}s" \
    --set election.leaseDuration=6s --set election.renewDeadline=4s --set election.retryPeriod=1s \
    --set election.requestTimeout=2s --set log.format=text >"$work/helm-$r.out" 2>&1 || fail "helm install $r: $(cat "$work/helm-$r.out")"
done
for r in "${releases[@]}"; do
  wait_until 60 has_pods "$r" || fail "release $r: the ReplicaSet made $(pods_of "$r" | wc -l) of $replicas pods"
done
echo "ok: both releases installed, $replicas pods each"

# Each pod's elector: the real binary with the Deployment's own args (so --pod-selector is the
# chart's), the release's ServiceAccount token, and the downward API's variables.
start_release() {
  local r=$1 token kubeconfig pod port
  local -a args
  token="$(k create token "$r-leader-elector" --duration=20m)"
  kubeconfig="$work/$r.kubeconfig"
  kle_sa_kubeconfig "$kubeconfig" "$token" "$ns"
  mapfile -t args < <(k get deployment "$r-leader-elector" -o json |
    jq -r '.spec.template.spec.containers[] | select(.name == "leader-elector") | .args[]' |
    grep -v '^--http-address=')
  grep -q '^--pod-selector=' <<<"$(printf '%s\n' "${args[@]}")" || fail "release $r: the chart passes no --pod-selector"
  for pod in $(pods_of "$r"); do
    port="$(free_port)"
    POD_NAME="$pod" POD_NAMESPACE="$ns" KUBECONFIG="$kubeconfig" \
      "$KLE_BIN" "${args[@]}" --http-address "127.0.0.1:$port" >"$work/$pod.log" 2>&1 &
    pids+=($!)
  done
}
for r in "${releases[@]}"; do start_release "$r"; done

wait_until 30 both_labelled ||
  fail "no labelled leader per release: alpha holder='$(holder_of alpha)' labelled='$(labelled_of alpha)'," \
    "beta holder='$(holder_of beta)' labelled='$(labelled_of beta)'"
echo "ok: alpha leader $(holder_of alpha), beta leader $(holder_of beta), each the one labelled pod of its release"

# Several reconcile periods: both releases keep their own labelled leader throughout.
periods=5
end=$(($(now_ms) + periods * reconcile_s * 1000))
checks=0
while [ "$(now_ms)" -lt "$end" ]; do
  both_labelled ||
    fail "after $checks checks: alpha holder='$(holder_of alpha)' labelled='$(labelled_of alpha)'," \
      "beta holder='$(holder_of beta)' labelled='$(labelled_of beta)'"
  checks=$((checks + 1))
  sleep 0.2
done
echo "ok: for $periods reconcile periods ($checks checks) each release kept exactly one labelled pod, its own leader"

# The label state could flap back between two checks; the logs cannot: no replica ever cleared
# a label on the other release's pods, and no reconcile failed.
for r in "${releases[@]}"; do
  for other in "${releases[@]}"; do
    [ "$other" = "$r" ] && continue
    for pod in $(pods_of "$r"); do
      for victim in $(pods_of "$other"); do
        # Filter the file in one grep: `grep | grep -q` under pipefail can fail the first
        # grep with SIGPIPE once the second has matched, and the `!` would hide the match.
        ! grep -F "leader label cleared" "$work/$pod.log" 2>/dev/null | grep -F "pod=$victim" >/dev/null ||
          fail "$pod (release $r) cleared the label of $victim (release $other)"
      done
    done
  done
done
! grep -l "pod label reconcile failed" "$work"/*.log >/dev/null || fail "a label reconcile failed: $(grep -h "pod label reconcile failed" "$work"/*.log | head -3)"
grep -qh "leader label set" "$work"/*.log || fail "no replica logged setting its label"
echo "ok: no replica touched the other release's pods, and no label reconcile failed"
