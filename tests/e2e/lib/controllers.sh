# Shared by tests/e2e/*.sh and hack/demo.sh: run leader-elector processes that stand in for
# the chart's pods, against the real apiserver of tests/cluster/up, with the chart's
# restricted service account. Source after setting KLE_CLUSTER_DIR and BUILD_DIR.
# shellcheck shell=bash

: "${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set: start the cluster with tests/cluster/up}"
[ -f "$KLE_CLUSTER_DIR/env" ] || { echo "no $KLE_CLUSTER_DIR/env: is the cluster up?" >&2; exit 1; }
# shellcheck disable=SC1091
. "$KLE_CLUSTER_DIR/env"
: "${BUILD_DIR:?BUILD_DIR is not set}"
KLE_BIN="${KLE_BIN:-$BUILD_DIR/cmd/leader-elector/leader-elector}"
[ -x "$KLE_BIN" ] || { echo "leader-elector binary missing at $KLE_BIN: build first (make build)" >&2; exit 1; }

KLE_LABEL_KEY=leader-elector/leader
KLE_LABEL_VALUE=true
KLE_RUN_DIR="${KLE_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kle-run.XXXXXX")}"
KLE_APP="${KLE_APP:-kle-demo}"
declare -gA KLE_PID=() KLE_PORT=()

kadmin() { "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n "$KLE_NAMESPACE" "$@"; }

now_ms() { date +%s%3N; }

# shellcheck source=../../lib/ports.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lib/ports.sh"
free_port() { kle_free_ports 1; }

# Pod objects named $KLE_APP-0..N-1 (kwok, when running, makes them Running with an IP),
# and a leader Service selecting app + leader label, as the chart does.
kle_create_pods() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $KLE_APP-$i
  labels: {app: $KLE_APP}
spec:
  terminationGracePeriodSeconds: 0
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: registry.k8s.io/pause:3.10, ports: [{containerPort: 8080}]}]
YAML
  done | kadmin apply -f - >/dev/null
  kadmin apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: $KLE_APP-leader}
spec:
  selector: {app: $KLE_APP, $KLE_LABEL_KEY: "$KLE_LABEL_VALUE"}
  ports: [{port: 80, targetPort: 8080}]
YAML
}

kle_delete_pods() {
  kadmin delete pod -l "app=$KLE_APP" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  kadmin delete service "$KLE_APP-leader" --ignore-not-found >/dev/null 2>&1 || true
}

# kle_start i [extra flags...]: replica i runs as pod $KLE_APP-i.
kle_start() {
  local i=$1
  shift
  local port
  port=$(free_port)
  KLE_PORT[$i]=$port
  POD_NAME="$KLE_APP-$i" POD_NAMESPACE="$KLE_NAMESPACE" KUBECONFIG="$KLE_RESTRICTED_KUBECONFIG" \
    "$KLE_BIN" --lease-name "$KLE_LEASE" --http-address "127.0.0.1:$port" \
    --lease-duration "${KLE_LEASE_DURATION:-6s}" --renew-deadline "${KLE_RENEW_DEADLINE:-4s}" \
    --retry-period "${KLE_RETRY_PERIOD:-1s}" --request-timeout "${KLE_REQUEST_TIMEOUT:-2s}" \
    --reconcile-interval "${KLE_RECONCILE_INTERVAL:-5s}" "$@" \
    >>"$KLE_RUN_DIR/replica-$i.log" 2>&1 &
  KLE_PID[$i]=$!
}

kle_stop_all() {
  local i
  for i in "${!KLE_PID[@]}"; do kill -TERM "${KLE_PID[$i]}" 2>/dev/null || true; done
  for i in "${!KLE_PID[@]}"; do wait "${KLE_PID[$i]}" 2>/dev/null || true; done
  KLE_PID=()
}

kle_holder() { kadmin get lease "$KLE_LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
kle_transitions() { kadmin get lease "$KLE_LEASE" -o jsonpath='{.spec.leaseTransitions}' 2>/dev/null || true; }
kle_labelled() {
  kadmin get pods -l "$KLE_LABEL_KEY=$KLE_LABEL_VALUE" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}' |
    sed 's/ $//'
}
# The pod IPs behind the leader Service's EndpointSlices (needs kwok + controller-manager).
kle_endpoint_ips() {
  kadmin get endpointslices -l "kubernetes.io/service-name=$KLE_APP-leader" \
    -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{" "}{end}' | sed 's/ $//'
}
kle_pod_ip() { kadmin get pod "$1" -o jsonpath='{.status.podIP}'; }

# The holder as replica i's own /leader endpoint sees it (cheap to poll: no apiserver call).
kle_seen_holder() {
  curl -s --max-time 1 "http://127.0.0.1:${KLE_PORT[$1]}/leader" | jq -r '.holder // empty' 2>/dev/null || true
}

# wait_until TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
