#!/usr/bin/env bash
# `make demo`: the product in about a minute on a real control plane. Starts kube-apiserver,
# etcd, controller-manager, scheduler and kwok (built from the Go module proxy on first use),
# runs three leader-elector replicas standing in for the chart's pods with the chart's
# least-privilege RBAC, shows the Lease and the labelled pod, kills the leader with -9 and
# shows the failover with its measured time, then cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build/dev}
export BUILD_DIR

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

bold "1/6 control plane (first run builds it from Go modules: ~20-40 min on 2 cores, then cached)"
hack/controlplane/build.sh
eval "$(tests/cluster/up)"
export KLE_CLUSTER_DIR
trap 'kle_stop_all 2>/dev/null || true; kle_delete_pods 2>/dev/null || true; tests/cluster/down >/dev/null 2>&1 || true' EXIT
export KLE_APP=demo
. tests/e2e/lib/controllers.sh
K() { "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n "$KLE_NAMESPACE" "$@"; }

bold "2/6 three pods and a Service that selects the leader label"
kle_create_pods 3
run K get svc demo-leader -o jsonpath='{.spec.selector}'; echo

bold "3/6 three leader-elector replicas (lease ${KLE_LEASE_DURATION:-6s}, renew deadline ${KLE_RENEW_DEADLINE:-4s}, retry ${KLE_RETRY_PERIOD:-1s})"
for i in 0 1 2; do kle_start "$i" --log-format text; echo "replica $i = pod demo-$i, pid ${KLE_PID[$i]}, http :${KLE_PORT[$i]}"; done
one_leader_labelled() { local h; h=$(kle_holder); [ -n "$h" ] && [ "$(kle_labelled)" = "$h" ]; }
wait_until 30 one_leader_labelled || { echo "no leader after 30s; logs in $KLE_RUN_DIR" >&2; exit 1; }

bold "4/6 who leads"
run K get lease "$KLE_LEASE" -o wide
run K get pods -L leader-elector/leader -o wide
ips=$(kle_endpoint_ips || true)
echo "leader Service endpoints: ${ips:-<none yet>}"
leader=$(kle_holder)
printf '$ curl :%s/leader\n' "${KLE_PORT[${leader##*-}]}"
curl -s "http://127.0.0.1:${KLE_PORT[${leader##*-}]}/leader" | jq .

bold "5/6 kill -9 the leader ($leader): no release, no unlabel; followers must notice expiry"
victim=${leader##*-}
t0=$(now_ms)
kill -KILL "${KLE_PID[$victim]}"; wait "${KLE_PID[$victim]}" 2>/dev/null || true; unset "KLE_PID[$victim]"
moved() { local h; h=$(kle_holder); [ -n "$h" ] && [ "$h" != "$leader" ]; }
wait_until 60 moved || { echo "no failover" >&2; exit 1; }
t1=$(now_ms)
wait_until 30 one_leader_labelled || { echo "label did not move" >&2; exit 1; }
t2=$(now_ms)
echo "new leader $(kle_holder): lease taken $((t1 - t0)) ms after the kill; label moved, stale label cleared after $((t2 - t0)) ms"
echo "(followers count the ${KLE_LEASE_DURATION:-6s} lease from the last renewal they saw, on their own monotonic clock,"
echo " so the takeover lands up to one retry period before 'kill time + lease duration')"
run K get pods -L leader-elector/leader
echo "leader Service endpoints: $(kle_endpoint_ips || true)"

bold "6/6 SIGTERM the new leader: it releases the lease, a follower takes over at once"
leader=$(kle_holder); victim=${leader##*-}
t0=$(now_ms)
kill -TERM "${KLE_PID[$victim]}"
wait_until 30 moved || { echo "no handover" >&2; exit 1; }
echo "graceful handover $leader -> $(kle_holder) in $(($(now_ms) - t0)) ms"
wait "${KLE_PID[$victim]}" 2>/dev/null || true; unset "KLE_PID[$victim]"
run K get lease "$KLE_LEASE"

bold "cleaning up"
kle_stop_all
echo "replica logs were in $KLE_RUN_DIR"
