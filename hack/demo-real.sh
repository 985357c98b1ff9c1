#!/usr/bin/env bash
# `make demo`: the chart on a real node. A real kubelet runs the image built from this
# repository's Dockerfile; helm installs 3 replicas; the leader Service carries traffic to the
# leading pod only; then a `kubectl delete pod` and a kill -9 of the leader, each with the time
# until the Service answers from the new leader. Everything runs in a network namespace of its
# own (tests/node/up) and is removed at the end.
# When this machine cannot run a node (not root, no CAP_SYS_ADMIN, no overlayfs, cgroups), or
# the node cannot be built or started, it says exactly why and shows the same election with
# host processes instead (hack/demo.sh). KLE_DEMO=processes asks for that directly.
# Env: KLE_DEMO_ELECTION=<lease>/<renew>/<retry>/<request> (default: the chart's values).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build/dev}
KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-demo-real-$(id -un)"
export KLE_CLUSTER_DIR
# shellcheck disable=SC2034  # E2E_TAG is read by tests/e2e-node/lib.sh
NS=kle-demo REL=kle E2E_TAG=demo
# shellcheck source=../tests/e2e-node/lib.sh
. tests/e2e-node/lib.sh

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run <cmd...>: shows the command as a user would type it (X and k are ours), then runs it.
run() {
  local shown=("$@")
  case "$1" in
    X) shown=("${@:2}") ;;
    k) shown=(kubectl -n "$NS" "${@:2}") ;;
  esac
  printf '$ %s\n' "${shown[*]}"
  "$@"
}
fallback() {
  printf '\n\033[1mReal pods are not possible here: %s\033[0m\n' "$*"
  echo "Showing the same election with host processes standing in for the pods (hack/demo.sh)."
  processes
}
processes() {
  make --no-print-directory PRESET="${PRESET:-dev}" build
  exec hack/demo.sh "$BUILD_DIR"
}
[ "${KLE_DEMO:-}" != processes ] || processes

why="$(tests/node/up --check 2>&1)" || fallback "${why##*ERROR: }"
bold "1/6 what a real node needs (first run: Debian packages, the control plane and kubelet from Go modules, the image from the Dockerfile; 20-60 min on 2 cores, then cached)"
hack/node-deps.sh || fallback "installing the node's Debian packages failed (hack/node-deps.sh, output above)"
{ hack/controlplane/build.sh && hack/controlplane/build.sh kubelet kube-proxy; } ||
  fallback "building the control plane or the kubelet failed (hack/controlplane/build.sh, output above)"
hack/image/build.sh >/dev/null || fallback "building the image failed (make image, output above)"
hack/image/pause.sh >/dev/null || fallback "building the pause image failed (hack/image/pause.sh, output above)"

bold "2/6 a real node: containerd, runc, kubelet and kube-proxy in their own network namespace"
tests/node/down >/dev/null 2>&1 || true
trap 'tests/node/down >/dev/null 2>&1 || true' EXIT
tests/node/up >/dev/null 2>"$KLE_CLUSTER_DIR.up.log" || {
  tail -n 5 "$KLE_CLUSTER_DIR.up.log" >&2
  fallback "the node did not start: $(grep -o 'ERROR: .*' "$KLE_CLUSTER_DIR.up.log" | tail -1)"
}
run X kubectl get nodes -o wide
echo "(kle-node-0 is kwok's stand-in node that the process-based tests use; the chart is pinned to kle-real-node)"

bold "3/6 helm install: 3 replicas of the image built here"
sets=()
if [ -n "${KLE_DEMO_ELECTION:-}" ]; then
  IFS=/ read -r l r t q <<<"$KLE_DEMO_ELECTION"
  sets=(--set-string "election.leaseDuration=$l" --set-string "election.renewDeadline=$r"
    --set-string "election.retryPeriod=$t" --set-string "election.requestTimeout=$q")
fi
run X helm install "$REL" "$KLE_REPO/charts/leader-elector" -n "$NS" --create-namespace --set replicaCount=3 \
  --set image.pullPolicy=Never --set image.tag="$IMG_TAG" \
  --set-string 'nodeSelector.kubernetes\.io/hostname'="$NODE_NAME" ${sets[@]+"${sets[@]}"}
k rollout status deploy/"$APP" --timeout=300s
e2e_chart_facts
lease_s="$(X helm get values "$REL" -n "$NS" -a -o json | jq -r .election.leaseDuration)"
leads() { local h; h="$(holder)" && [ -n "$h" ] && [ "$(labelled)" = "$h" ] && [ "$(e2e_leader_at "$SVC")" = "$h" ]; }
# One holder, exactly its pod labelled, the Service answering from it.
wait_leads() {
  local deadline=$((SECONDS + 120))
  until leads; do [ "$SECONDS" -lt "$deadline" ] || fail "no leader reachable through the Service after 120s"; sleep 0.5; done
}
wait_leads

bold "4/6 who leads: the Lease, the labelled pod, and the Service that selects the label"
run k get lease "$LEASE" -o wide
run k get pods -L leader-elector/leader -o wide
run k get endpointslices -l kubernetes.io/service-name="$APP-leader" \
  -o custom-columns=SLICE:.metadata.name,ADDRESSES:.endpoints[*].addresses[0]
printf '$ curl http://%s/leader   # the leader Service, from the node\n' "$SVC"
X curl -fsS --max-time 2 "http://$SVC/leader" | jq .

# failover <what> <command...>: runs it, then polls the Service until the new leader answers.
failover() {
  local what="$1" old t0 now; shift
  old="$(holder)"; t0="$(now_ms)"
  "$@" "$old"
  until now="$(e2e_leader_at "$SVC")" && [ -n "$now" ] && [ "$now" != "$old" ] && [ "$now" = "$(holder)" ]; do
    [ $(($(now_ms) - t0)) -lt 120000 ] || fail "no new leader behind the Service 120 s after: $what"
    sleep 0.1
  done
  echo "$what $old: the Service answered from the new leader $now after $(($(now_ms) - t0)) ms"
}
delete_pod() { k delete pod "$1" --wait=false; }
kill_container() {
  local id pid
  id="$(k get pod "$1" -o jsonpath='{.status.containerStatuses[?(@.name=="leader-elector")].containerID}')"
  pid="$(nd_in ctr -a "$N/containerd/containerd.sock" -n k8s.io tasks ls | awk -v id="${id#containerd://}" '$1 == id { print $2 }')"
  [ -n "$pid" ] || fail "no process found for the container of $1"
  printf '$ kill -9 %s   # the leader-elector process of %s\n' "$pid" "$1"
  kill -KILL "$pid"
}

bold "5/6 kubectl delete pod <leader>: SIGTERM, the leader releases the Lease, a follower takes it at once"
failover "kubectl delete pod" delete_pod
wait_leads
run k get pods -L leader-elector/leader

bold "6/6 kill -9 the leader's container: no release; followers take over once the ${lease_s} lease runs out on their own clocks"
failover "kill -9 of" kill_container
wait_leads
run k get pods -L leader-elector/leader
run k get lease "$LEASE"
echo
echo "The killed container was restarted by the kubelet and came back as a follower (RESTARTS above)."
echo "Cleaning up: tests/node/down removes the node, the control plane and the namespace."
