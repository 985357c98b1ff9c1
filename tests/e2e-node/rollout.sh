#!/usr/bin/env bash
# Rollouts on the real node, measured (`make bench-rollout`): the chart with 3 replicas and
# strategy maxSurge 1 / maxUnavailable 0, a client sending GET /leader every 20 ms to the leader
# Service, then KLE_ROLLOUTS (default 10) `kubectl rollout restart`s. For each rollout it prints
# the leader changes (leaseTransitions before and after), the holders in order (the ReplicaSet
# hash in each pod name shows its revision), svc-gap-ms: the time no leader answered behind
# the Service (the Lease itself moves in milliseconds; this includes the EndpointSlice
# controller and kube-proxy following the label), and the requests that failed or reached a
# non-leader. The probe's monitor asserts the
# invariants throughout: never two non-terminating labelled pods, never two believers.
# A benchmark: it prints figures and fails only on an invariant or on a rollout that does not
# finish. The rollouts run with the chart's election.handover=newest and then =off, side by
# side (docs/HANDOVER.md). Env: KLE_ROLLOUTS, KLE_HANDOVER_MODES (default "newest off"),
# KLE_ELECTION (as in real_node.sh), KLE_CLUSTER_DIR, KLE_KEEP=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KLE_CLUSTER_DIR="${KLE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kle-rollout-$(id -un)}"
export KLE_CLUSTER_DIR
# shellcheck disable=SC2034  # E2E_TAG is read by lib.sh
NS=kle-rollout REL=kle E2E_TAG=rollout
# shellcheck source=lib.sh
. "$HERE/lib.sh"
ROLLOUTS="${KLE_ROLLOUTS:-10}"
W="$N/e2e"
[[ "$ROLLOUTS" =~ ^[0-9]+$ ]] || fail "KLE_ROLLOUTS=$ROLLOUTS is not a number"
[ -s "$IMG_ARCHIVES/leader-elector-$IMG_TAG.tar" ] || fail "no image archive: run make image"

cleanup() {
  local rc=$?
  # shellcheck disable=SC2086  # PROBES is a list of PIDs
  [ -z "${PROBES:-}" ] || kill $PROBES 2>/dev/null || true
  if [ "${KLE_KEEP:-0}" = 1 ] && [ "$rc" -eq 0 ]; then log "KLE_KEEP=1: node left up ($N)"; return; fi
  "$KLE_REPO/tests/node/down" || true
  if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAILED (exit $rc); logs in $N/logs, $W"; fi
}
trap cleanup EXIT
"$KLE_REPO/tests/node/up" >/dev/null
rm -rf "$W" && mkdir -p "$W"   # a previous run's probe logs would be counted again

sets=()
if [ -n "${KLE_ELECTION:-}" ]; then
  IFS=/ read -r l r t q <<<"$KLE_ELECTION"
  [ -n "$q" ] || fail "KLE_ELECTION=$KLE_ELECTION: expected <lease>/<renew>/<retry>/<request timeout>"
  sets=(--set-string "election.leaseDuration=$l" --set-string "election.renewDeadline=$r"
    --set-string "election.retryPeriod=$t" --set-string "election.requestTimeout=$q")
fi
X helm install "$REL" "$KLE_REPO/charts/leader-elector" -n "$NS" --create-namespace \
  --set replicaCount=3 --set image.pullPolicy=Never --set image.tag="$IMG_TAG" \
  --set strategy.type=RollingUpdate --set strategy.rollingUpdate.maxSurge=1 \
  --set strategy.rollingUpdate.maxUnavailable=0 \
  --set-string 'nodeSelector.kubernetes\.io/hostname'="$NODE_NAME" ${sets[@]+"${sets[@]}"} >/dev/null ||
  fail "helm install failed"
k rollout status deploy/"$APP" --timeout=300s >/dev/null || fail "pods not Ready"
e2e_chart_facts
lease_s="$(X helm get values "$REL" -n "$NS" -a -o json | jq -r .election.leaseDuration)"
steady() {
  local h
  [ "$(k get deploy "$APP" -o jsonpath='{.status.updatedReplicas}/{.status.readyReplicas}/{.status.replicas}')" = 3/3/3 ] || return 1
  h="$(holder)" && [ -n "$h" ] && [ "$(labelled)" = "$h" ] && [ "$(e2e_leader_at "$SVC")" = "$h" ]
}
wait_steady() {
  local deadline=$((SECONDS + 300))
  until steady; do [ "$SECONDS" -lt "$deadline" ] || fail "not steady 300 s after the rollout"; sleep 0.5; done
}
wait_steady

# shellcheck source=/dev/null  # written by tests/cluster/up
. "$KLE_CLUSTER_DIR/env"
nsenter -t "$(nd_holder_pid)" -n -m -- python3 "$HERE/probe.py" client "http://$SVC/leader" "$W/client.jsonl" \
  </dev/null >"$W/client.err" 2>&1 &
PROBES="$!"
nsenter -t "$(nd_holder_pid)" -n -m -- python3 "$HERE/probe.py" monitor "$KLE_SERVER" "$KLE_CA_FILE" \
  "$KLE_CLUSTER_DIR/pki/admin.crt" "$KLE_CLUSTER_DIR/pki/admin.key" "$NS" "$SEL" "$LABEL" "$W/monitor.jsonl" \
  </dev/null >"$W/monitor.err" 2>&1 &
PROBES="$PROBES $!"
# Every change of holder, as the Lease's watch shows it, with its acquireTime (a release's is
# the moment of release): "<holder>|<acquireTime>".
X kubectl -n "$NS" get lease "$LEASE" -w -o jsonpath='{.spec.holderIdentity}|{.spec.acquireTime}{"\n"}' >"$W/holders.log" 2>&1 &
PROBES="$PROBES $!"
sleep 2

transitions() { k get lease "$LEASE" -o jsonpath='{.spec.leaseTransitions}'; }
ROWS=() BREAKDOWN=()
# run_rollouts MODE: KLE_ROLLOUTS rollouts with election.handover=MODE (docs/HANDOVER.md).
run_rollouts() {
  local mode=$1 i before lines t0 s0 t1 changes seq_ n f nl gap rel lgap b_lease b_label b_route
  if [ "$(X helm get values "$REL" -n "$NS" -a -o json | jq -r .election.handover)" != "$mode" ]; then
    # Changing the flag is itself a rollout: wait for it, it is not counted.
    X helm upgrade "$REL" "$KLE_REPO/charts/leader-elector" -n "$NS" --reuse-values \
      --set-string "election.handover=$mode" >/dev/null || fail "helm upgrade to handover=$mode failed"
    k rollout status deploy/"$APP" --timeout=300s >/dev/null || fail "the handover=$mode upgrade did not finish"
  fi
  for i in $(seq 1 "$ROLLOUTS"); do
    wait_steady
    before="$(transitions)"; lines="$(wc -l <"$W/holders.log")"
    t0="$(now_ms)"; s0=$SECONDS
    k rollout restart deploy/"$APP" >/dev/null
    k rollout status deploy/"$APP" --timeout=300s >/dev/null || fail "rollout $i did not finish in 300 s"
    wait_steady
    t1="$(now_ms)"
    changes=$(($(transitions) - before))
    # Holders during this rollout, consecutive repeats and releases ("") dropped; pod names
    # shortened to <replicaset hash>-<suffix>.
    seq_="$(tail -n +"$((lines + 1))" "$W/holders.log" | cut -d'|' -f1 | grep -v '^$' | uniq | sed "s/^$APP-//" | paste -sd' ')"
    read -r n f nl gap < <(python3 "$HERE/probe.py" gaps "$W/client.jsonl" "$t0" "$t1")
    read -r rel lgap _ < <(python3 "$HERE/probe.py" leasegaps "$W/holders.log" "$((lines + 1))")
    read -r b_lease b_label b_route < <(python3 "$HERE/probe.py" breakdown "$W/holders.log" "$((lines + 1))" \
      "$W/monitor.jsonl" "$W/client.jsonl" "$t1")
    BREAKDOWN+=("$(printf '%-6s  %3d  %17s  %10s  %28s' "$mode" "$i" "$b_lease" "$b_label" "$b_route")")
    ROWS+=("$(printf '%-6s  %3d  %7d  %8s  %10d  %8d  %6d  %10d  %5d  %s' "$mode" "$i" "$changes" \
      "$([ "$rel" -gt 0 ] && echo "$lgap" || echo -)" "$gap" "$n" "$f" "$nl" "$((SECONDS - s0))" "$seq_")")
    log "${ROWS[-1]}"
  done
}
for mode in ${KLE_HANDOVER_MODES:-newest off}; do run_rollouts "$mode"; done

# shellcheck disable=SC2086  # PROBES is a list of PIDs
kill $PROBES 2>/dev/null || true; PROBES=""
violations="$(grep -c '"violation": true' "$W/monitor.jsonl" || true)"
echo
echo "Rollouts (3 replicas, maxSurge 1, maxUnavailable 0, lease $lease_s; GET /leader every 20 ms via the leader Service)"
echo "handover  #  changes  lease-gap  svc-gap-ms  requests  failed  non-leader  secs   holders in order (<replicaset>-<pod>)"
echo "(lease-gap: ms from the old leader's release to the next acquisition, summed; svc-gap-ms: ms no leader answered through the Service)"
printf '%s\n' "${ROWS[@]}"
echo
echo "The first handover of each rollout, step by step (ms from the step before):"
echo "handover  #  release->acquired  ->labelled  ->first answer via the Service (EndpointSlice + kube-proxy)"
printf '%s\n' "${BREAKDOWN[@]}"
echo "invariant violations (two labelled pods or two believers): $violations"
[ "$violations" -eq 0 ] || { grep '"violation": true' "$W/monitor.jsonl" | head -5 >&2; fail "$violations invariant violations"; }
