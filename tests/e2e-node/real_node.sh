#!/usr/bin/env bash
# Real pods end to end: the image `make image` built, run by a real kubelet (tests/node/up):
#   helm install (3 replicas) -> all Running+Ready, one Lease holder, exactly one labelled pod,
#   `kubectl logs`/`exec` work; a client sends GET /leader every 20 ms to the leader Service's
#   ClusterIP; then KLE_FAILOVERS (default 10) failovers of each kind:
#     delete  kubectl delete pod <leader>             (graceful: SIGTERM, the Lease is released)
#     kill    kill -9 of the leader container's process
#     stop    SIGSTOP of it for leaseDuration + 3 s, then SIGCONT: it must have stepped down
#   then KLE_ROLLOUT_CHECKS (default 2) `kubectl rollout restart`s, each of which must move
#   leadership exactly once, to a pod of the new revision (issue 11),
#   and per failover prints the time from the action to the first answer from the new leader
#   and the requests that failed or reached a non-leader meanwhile. A monitor watches the whole
#   run: never two non-terminating labelled pods, never two pods answering isLeader=true.
#   Last, each elector pod's memory from its cgroup.
# Not in tests/e2e/ on purpose (run-integration.sh runs everything there): `make test` runs it
# in its own stage (hack/test-all.sh), `make test-real-node` alone.
# Env: KLE_FAILOVERS, KLE_ELECTION=<lease>/<renew deadline>/<retry>/<request timeout> (default:
# the chart's 15s/10s/2s/5s; `make test` uses 5s/3s/1s/2s so 30 failovers fit in a few
# minutes), KLE_CLUSTER_DIR (default ${TMPDIR:-/tmp}/kle-e2e-node-<user>), KLE_KEEP=1
# (leave the node up). Fails loudly (never skips) when the image or binaries are missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KLE_CLUSTER_DIR="${KLE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kle-e2e-node-$(id -un)}"
# shellcheck disable=SC2034  # E2E_TAG is read by lib.sh
NS=kle-real REL=kle E2E_TAG=real-node
# shellcheck source=lib.sh
. "$HERE/lib.sh"
FAILOVERS="${KLE_FAILOVERS:-10}"
W="$N/e2e"   # work files: client/monitor logs

cleanup() {
  local rc=$?
  # shellcheck disable=SC2086  # PROBES is a list of PIDs
  [ -n "${PROBES:-}" ] && kill $PROBES 2>/dev/null
  if [ "${KLE_KEEP:-0}" = 1 ] && [ "$rc" -eq 0 ]; then log "KLE_KEEP=1: node left up ($N)"; return; fi
  "$KLE_REPO/tests/node/down" || true
  if [ "$rc" -eq 0 ]; then log "PASS"; else log "FAILED (exit $rc); logs in $N/logs, $W, $KLE_CLUSTER_DIR/logs"; fi
}

archive="$IMG_ARCHIVES/leader-elector-$IMG_TAG.tar"
[ -s "$archive" ] || fail "no image archive $archive: run make image"
[[ "$FAILOVERS" =~ ^[0-9]+$ ]] || fail "KLE_FAILOVERS=$FAILOVERS is not a number"
ELECTION_SET=()
if [ -n "${KLE_ELECTION:-}" ]; then
  IFS=/ read -r e_lease e_renew e_retry e_request <<<"$KLE_ELECTION"
  [ -n "$e_request" ] ||
    fail "KLE_ELECTION=$KLE_ELECTION: expected <lease>/<renew deadline>/<retry>/<request timeout>, e.g. 5s/3s/1s/2s"
  # The chart refuses combinations the binary would refuse, with its own message.
  ELECTION_SET=(--set-string "election.leaseDuration=$e_lease" --set-string "election.renewDeadline=$e_renew"
    --set-string "election.retryPeriod=$e_retry" --set-string "election.requestTimeout=$e_request")
fi
trap cleanup EXIT
t=$SECONDS
"$KLE_REPO/tests/node/up" >/dev/null
log "tests/node/up: $((SECONDS - t))s"
rm -rf "$W" && mkdir -p "$W"   # a previous run's probe logs would be counted again

# --- install ---------------------------------------------------------------------------------
t=$SECONDS
X helm install "$REL" "$KLE_REPO/charts/leader-elector" -n "$NS" --create-namespace \
  --set replicaCount=3 --set image.pullPolicy=Never --set image.tag="$IMG_TAG" \
  --set-string 'nodeSelector.kubernetes\.io/hostname'="$NODE_NAME" ${ELECTION_SET[@]+"${ELECTION_SET[@]}"} >/dev/null ||
  fail "helm install failed"
LEASE_S="$(X helm get values "$REL" -n "$NS" -a -o json | jq -r '.election.leaseDuration' | sed 's/s$//')"

ready_count() {
  k get pods -l "$SEL" -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null and .status.phase == "Running")
    | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'
}
# 3 pods Running+Ready, one holder, exactly that pod labelled, the Service answering from it.
steady() {
  local h
  [ "$(ready_count)" = 3 ] || return 1
  h="$(holder)"; [ -n "$h" ] || return 1
  [ "$(labelled)" = "$h" ] || return 1
  [ "$(e2e_leader_at "$SVC")" = "$h" ]
}
wait_steady() {
  local deadline=$((SECONDS + ${1:-300}))
  until steady; do
    [ "$SECONDS" -lt "$deadline" ] || { k get pods -o wide >&2; fail "not steady after ${1:-300}s (3 Ready pods, one holder, one labelled pod, Service answering from it)"; }
    sleep 1
  done
}

k rollout status deploy/"$APP" --timeout=300s >/dev/null || { k get pods -o wide >&2; fail "pods not Ready"; }
e2e_chart_facts
wait_steady 120
log "installed in $((SECONDS - t))s: 3 pods Running+Ready, holder $(holder), labelled: $(labelled), leader Service $SVC"
k get pods -o wide >&2

# kubectl logs / exec go through the apiserver to the kubelet.
h="$(holder)"
out="$(k logs "$h" -c leader-elector)" || fail "kubectl logs $h failed"
grep -q 'leadership acquired' <<<"$out" || fail "kubectl logs $h: no 'leadership acquired' in: $out"
out="$(k exec "$h" -c leader-elector -- /usr/local/bin/leader-elector --help 2>&1)" || fail "kubectl exec $h failed: $out"
grep -q 'Usage' <<<"$out" || fail "kubectl exec $h: unexpected output: $out"
log "kubectl logs and kubectl exec work"

# --- probes ----------------------------------------------------------------------------------
# shellcheck source=/dev/null
. "$KLE_CLUSTER_DIR/env"
# nsenter execs python3, so $! is the probe itself (a backgrounded function would be a subshell).
nsenter -t "$(nd_holder_pid)" -n -m -- python3 "$HERE/probe.py" client "http://$SVC/leader" "$W/client.jsonl" </dev/null >"$W/client.err" 2>&1 &
PROBES="$!"
nsenter -t "$(nd_holder_pid)" -n -m -- python3 "$HERE/probe.py" monitor "$KLE_SERVER" "$KLE_CA_FILE" "$KLE_CLUSTER_DIR/pki/admin.crt" \
  "$KLE_CLUSTER_DIR/pki/admin.key" "$NS" "$SEL" "$LABEL" "$W/monitor.jsonl" </dev/null >"$W/monitor.err" 2>&1 &
PROBES="$PROBES $!"
T_START="$(now_ms)"
sleep 5
read -r n f nl < <(python3 "$HERE/probe.py" tally "$W/client.jsonl" "$T_START" "$(now_ms)")
[ "$n" -gt 0 ] || fail "the client sent no request (see $W/client.err)"
{ [ "$f" -eq 0 ] && [ "$nl" -eq 0 ]; } || fail "steady state: $f of $n requests failed, $nl reached a non-leader"
log "steady state: $n requests in 5 s, all answered by the leader"

# --- failovers -------------------------------------------------------------------------------
container_pid() { # <pod>: host PID of its leader-elector container's process
  local id
  id="$(k get pod "$1" -o jsonpath='{.status.containerStatuses[?(@.name=="leader-elector")].containerID}')"
  id="${id#containerd://}"; [ -n "$id" ] || return 1
  nd_in ctr -a "$N/containerd/containerd.sock" -n k8s.io tasks ls | awk -v id="$id" '$1 == id { print $2 }'
}
ROWS=()
failover() { # <kind> <n>
  local kind="$1" i="$2" old pid t0 res ms f nl extra=""
  wait_steady 300
  old="$(holder)"
  pid="$(container_pid "$old")" || fail "no container PID for $old"
  t0="$(now_ms)"
  case "$kind" in
    delete) k delete pod "$old" --wait=false >/dev/null ;;
    kill) kill -KILL "$pid" ;;
    stop) kill -STOP "$pid" ;;
  esac
  local deadline=$((SECONDS + 120))
  local same=""; [ "$kind" = kill ] && same=restarted-ok
  until res="$(python3 "$HERE/probe.py" since "$W/client.jsonl" "$t0" "$old" $same)"; do
    [ "$SECONDS" -lt "$deadline" ] || { [ "$kind" = stop ] && kill -CONT "$pid"; fail "$kind #$i: no new leader answering after 120s"; }
    sleep 0.2
  done
  read -r ms f nl <<<"$res"
  if [ "$kind" = stop ]; then
    # Keep it stopped for longer than the lease, then wake it: it must not believe it leads.
    local until_ms=$((t0 + LEASE_S * 1000 + 3000)) d
    while [ "$(now_ms)" -lt "$until_ms" ]; do sleep 0.2; done
    kill -CONT "$pid"
    sleep 2
    d="$(nd_in python3 -c 'import json,sys,urllib.request as u; d=json.load(u.urlopen(sys.argv[1], timeout=2)); print(d["isLeader"])' \
      "http://$(k get pod "$old" -o jsonpath='{.status.podIP}'):8080/leader" 2>/dev/null || echo unreachable)"
    [ "$d" = False ] || fail "stop #$i: $old after SIGCONT answers isLeader=$d"
    [[ " $(labelled) " != *" $old "* ]] || fail "stop #$i: $old still labelled after SIGCONT"
    extra=" (stopped $((LEASE_S + 3))s; stepped down after SIGCONT)"
  fi
  ROWS+=("$(printf '%-7s %3d  %8d  %7d  %10d  %s -> %s%s' "$kind" "$i" "$ms" "$f" "$nl" "$old" "$(holder)" "$extra")")
  log "${ROWS[-1]}"
}
for kind in delete kill stop; do
  for i in $(seq 1 "$FAILOVERS"); do failover "$kind" "$i"; done
done
wait_steady 300

# --- rollouts (issue 11): each `kubectl rollout restart` moves leadership exactly once, to a
# pod of the new revision. The Kubernetes default strategy for 3 replicas is maxSurge 1,
# maxUnavailable 0, so only the leader's own deletion moves the lease, and its release names a
# Ready pod of the newest revision (docs/HANDOVER.md). `make bench-rollout` measures the gaps.
revision_of() { k get pod "$1" -o jsonpath='{.metadata.labels.pod-template-hash}'; }
transitions() { k get lease "$LEASE" -o jsonpath='{.spec.leaseTransitions}'; }
rollout_check() { # <n>
  local old rev before after h t0
  old="$(holder)"; rev="$(revision_of "$old")"; before="$(transitions)"; t0="$(now_ms)"
  k rollout restart deploy/"$APP" >/dev/null
  k rollout status deploy/"$APP" --timeout=300s >/dev/null || fail "rollout #$1 did not finish in 300 s"
  wait_steady 300
  h="$(holder)"; after="$(transitions)"
  [ "$((after - before))" -eq 1 ] || fail "rollout #$1 moved leadership $((after - before)) times (leaseTransitions $before -> $after), want exactly 1"
  [ "$(revision_of "$h")" != "$rev" ] || fail "rollout #$1: the new holder $h is of the old revision $rev"
  read -r n f nl gap < <(python3 "$HERE/probe.py" gaps "$W/client.jsonl" "$t0" "$(now_ms)")
  ROWS+=("$(printf '%-7s %3d  %8s  %7d  %10d  %s -> %s (1 change, revision %s -> %s; %d ms with no leader answering)' \
    rollout "$1" - "$f" "$nl" "$old" "$h" "$rev" "$(revision_of "$h")" "$gap")")
  log "${ROWS[-1]}"
}
for i in $(seq 1 "${KLE_ROLLOUT_CHECKS:-2}"); do rollout_check "$i"; done
T_END="$(now_ms)"

# --- results ---------------------------------------------------------------------------------
# shellcheck disable=SC2086  # PROBES is a list of PIDs
kill $PROBES 2>/dev/null; PROBES=""
sleep 0.5
read -r n f nl < <(python3 "$HERE/probe.py" tally "$W/client.jsonl" "$T_START" "$T_END")
violations="$(grep -c '"violation": true' "$W/monitor.jsonl" || true)"
echo
echo "Failovers (lease ${LEASE_S}s; client GET /leader every 20 ms through the leader Service)"
echo "kind      #  ms-to-new  failed  non-leader  old -> new leader"
printf '%s\n' "${ROWS[@]}"
echo "whole run: $n requests, $f failed, $nl reached a non-leader; invariant violations: $violations"
echo
echo "Memory of each elector pod (cgroup of the pod: rss / working set = usage - inactive_file; the process's VmRSS)"
root="$(cat "$N/cgroup-root")"
for p in $(k get pods -l "$SEL" -o jsonpath='{.items[*].metadata.name}'); do
  uid="$(k get pod "$p" -o jsonpath='{.metadata.uid}')"
  d="$(find /sys/fs/cgroup/memory"$root"/kubepods -maxdepth 2 -type d -name "pod$uid" 2>/dev/null | head -1)" || true
  if [ -n "$d" ]; then
    awk -v p="$p" -v u="$(cat "$d/memory.usage_in_bytes")" '
      $1 == "total_rss" { rss = $2 } $1 == "total_inactive_file" { inact = $2 }
      END { printf "%s  rss %.1f MiB  working set %.1f MiB  usage %.1f MiB\n", p, rss/1048576, (u-inact)/1048576, u/1048576 }' "$d/memory.stat"
    # And the elector process itself, found through the pod's cgroup: its VmRSS counts the
    # shared pages it maps too (libc), which the cgroup charges to whoever read them first.
    while read -r pid; do
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = leader-elector ] || continue
      awk -v p="$p" -v pid="$pid" '$1 ~ /^(VmRSS|RssAnon|RssFile):$/ { v[$1] = $2 }
        END { printf "%s  process %s: VmRSS %d KiB (anon %d, file %d)\n", p, pid, v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' \
        "/proc/$pid/status"
    done < <(cat "$d"/*/cgroup.procs 2>/dev/null)
  else
    echo "$p: no memory cgroup found under /sys/fs/cgroup/memory$root"
  fi
done
[ "$violations" -eq 0 ] || { grep '"violation": true' "$W/monitor.jsonl" | head -5 >&2; fail "$violations invariant violations (two labelled pods or two believers)"; }
