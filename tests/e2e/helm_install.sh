#!/usr/bin/env bash
# `helm install` of charts/leader-elector against the real apiserver of tests/cluster/up, into
# a fresh namespace that enforces the Pod Security "restricted" standard:
#   - the release deploys and every object exists (Deployment, ServiceAccount, Role,
#     RoleBinding, leader and metrics Services, PodDisruptionBudget);
#   - the apiserver accepts the Role, and RBAC grants the service account exactly the
#     least-privilege set (`kubectl auth can-i` as the account, allowed and denied cases);
#   - the ReplicaSet controller creates the 3 pods, i.e. the hardened pod spec passes
#     PodSecurity "restricted" (the pods do not run: there is no kubelet, which is fine here);
#   - sidecar mode installs too; uninstall removes everything.
# Needs KLE_CLUSTER_DIR (eval "$(tests/cluster/up)"); fails, never skips, without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set: start the cluster with eval \"\$(tests/cluster/up)\"}"
[ -f "$KLE_CLUSTER_DIR/env" ] || { echo "FAIL: no $KLE_CLUSTER_DIR/env: is the cluster up?" >&2; exit 1; }
# shellcheck disable=SC1091
. "$KLE_CLUSTER_DIR/env"
helm="${KLE_HELM:-$(hack/controlplane/bin-path.sh helm)}"
[ -x "$helm" ] || { echo "FAIL: helm not found at $helm" >&2; exit 1; }
[ -x "$KLE_KUBECTL" ] || { echo "FAIL: kubectl not found at $KLE_KUBECTL" >&2; exit 1; }

ns="kle-helm-$(date +%s)-$$"
release=kle
lease=kle-helm-lease
sa="system:serviceaccount:$ns:$release-leader-elector"
k() { "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" "$@"; }
h() { "$helm" --kubeconfig "$KLE_ADMIN_KUBECONFIG" "$@"; }
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
cleanup() { k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "helm install into namespace $ns on $KLE_SERVER"
k create namespace "$ns" >/dev/null
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null
if out="$(h install "$release" charts/leader-elector -n "$ns" --set leaseName="$lease" 2>&1)"; then
  ok "helm install succeeded"
else
  bad "helm install failed:"; echo "$out"; exit 1
fi
check "helm status: deployed" bash -c "'$helm' --kubeconfig '$KLE_ADMIN_KUBECONFIG' status '$release' -n '$ns' | grep -q 'STATUS: deployed'"
grep -qF "kubectl get lease $lease -n $ns -o jsonpath=" <<<"$out" && ok "NOTES tell how to see the holder" || bad "NOTES lack the lease command"

for obj in deployment/$release-leader-elector serviceaccount/$release-leader-elector role/$release-leader-elector \
  rolebinding/$release-leader-elector service/$release-leader-elector-leader service/$release-leader-elector-metrics \
  poddisruptionbudget/$release-leader-elector; do
  check "$obj exists" k get -n "$ns" "$obj"
done
check "the Role stored by the apiserver limits lease get/update/watch to $lease" \
  bash -c "'$KLE_KUBECTL' --kubeconfig '$KLE_ADMIN_KUBECONFIG' get role -n '$ns' '$release-leader-elector' -o jsonpath='{.rules[0].resourceNames}' | grep -qx '\[\"$lease\"\]'"

# RBAC as the service account: what it must be able to do, and what it must not.
can_in() { local where="$1"; shift; k auth can-i "$@" ${where:+-n "$where"} --as "$sa" 2>/dev/null | grep -qx yes; }
can() { can_in "$ns" "$@"; }
cannot() { ! can "$@"; }
cannot_in() { ! can_in "$@"; }
for v in get update watch; do check "SA may $v leases/$lease" can "$v" "leases.coordination.k8s.io/$lease"; done
check "SA may create leases" can create leases.coordination.k8s.io
for v in get list patch; do check "SA may $v pods" can "$v" pods; done
check "SA may NOT update another lease" cannot update leases.coordination.k8s.io/someone-elses
for v in delete list patch; do check "SA may NOT $v leases" cannot "$v" "leases.coordination.k8s.io/$lease"; done
check "SA may NOT delete pods" cannot delete pods
check "SA may NOT read secrets" cannot get secrets
check "SA may NOT patch pods in another namespace" cannot_in default patch pods
check "SA may NOT list nodes (nothing cluster-wide)" cannot_in "" list nodes

# PodSecurity "restricted" is enforced on pod creation: the ReplicaSet only gets 3 pods if the
# chart's pod spec passes it.
pods=0
for _ in $(seq 1 60); do
  pods="$(k get pods -n "$ns" -l app.kubernetes.io/instance=$release --no-headers 2>/dev/null | wc -l)"
  [ "$pods" -ge 3 ] && break
  sleep 1
done
if [ "$pods" -ge 3 ]; then ok "3 pods created under PodSecurity restricted"
else
  bad "only $pods pods created; ReplicaSet events:"
  k get events -n "$ns" --field-selector involvedObject.kind=ReplicaSet -o custom-columns=MSG:.message --no-headers | tail -5
fi

echo "sidecar mode"
if out="$(h install "$release-sidecar" charts/leader-elector -n "$ns" --set leaseName="$lease-sidecar" \
  --set sidecar.enabled=true --set sidecar.container.image=registry.k8s.io/pause:3.10 \
  --set 'sidecar.container.ports[0].name=web' --set 'sidecar.container.ports[0].containerPort=9000' \
  --set 'sidecar.container.securityContext.allowPrivilegeEscalation=false' \
  --set 'sidecar.container.securityContext.capabilities.drop[0]=ALL' 2>&1)"; then
  ok "helm install (sidecar mode) succeeded"
else
  bad "helm install (sidecar mode) failed:"; echo "$out"
fi
check "sidecar leader Service targets the app's port" \
  bash -c "'$KLE_KUBECTL' --kubeconfig '$KLE_ADMIN_KUBECONFIG' get service -n '$ns' '$release-sidecar-leader-elector-leader' -o jsonpath='{.spec.ports[0].targetPort}' | grep -qx web"

check "helm uninstall" h uninstall "$release" -n "$ns" --wait
check "helm uninstall (sidecar)" h uninstall "$release-sidecar" -n "$ns" --wait
check "uninstall removed the Role and Services" bash -c "[ -z \"\$('$KLE_KUBECTL' --kubeconfig '$KLE_ADMIN_KUBECONFIG' get role,service,deployment -n '$ns' -o name 2>/dev/null)\" ]"
echo "tests/e2e/helm_install.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
