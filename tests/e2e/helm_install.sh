#!/usr/bin/env bash
# `helm install` of charts/leader-elector against the real apiserver of tests/cluster/up, into
# a fresh namespace that enforces the Pod Security "restricted" standard:
#   - the release deploys and every object exists (Deployment, ServiceAccount, Role,
#     RoleBinding, leader and metrics Services, PodDisruptionBudget);
#   - the apiserver accepts the Role, and RBAC grants the service account exactly the
#     least-privilege set (`kubectl auth can-i` as the account, allowed and denied cases);
#   - the ReplicaSet controller creates the 3 pods, i.e. the hardened pod spec passes
#     PodSecurity "restricted" (the pods do not run: there is no kubelet, which is fine here);
#   - the chart's ValidatingAdmissionPolicy compiles without type-check warnings, and with the
#     chart's own ServiceAccount token: the elector's exact label patches (set, clear) pass on
#     this release's pods, while an image change, another label, another leader value, an
#     annotation, a finalizer, the leader label on a pod of another app or release, and a
#     Lease of another name are denied by the policy (server-side dry-run; the same requests
#     as admin pass, so it is the policy that denies). The real binary, run as that account,
#     labels its pod and clears a stale label under the policy;
#   - sidecar mode installs too, and the app container gets no ServiceAccount token;
#     uninstall removes everything, the cluster-scoped policy included.
# Needs KLE_CLUSTER_DIR (eval "$(tests/cluster/up)") and BUILD_DIR (the leader-elector
# binary); fails, never skips, without them.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set: start the cluster with eval \"\$(tests/cluster/up)\"}"
[ -f "$KLE_CLUSTER_DIR/env" ] || { echo "FAIL: no $KLE_CLUSTER_DIR/env: is the cluster up?" >&2; exit 1; }
# shellcheck disable=SC1091
. "$KLE_CLUSTER_DIR/env"
helm="${KLE_HELM:-$(hack/controlplane/bin-path.sh helm)}"
[ -x "$helm" ] || { echo "FAIL: helm not found at $helm" >&2; exit 1; }
[ -x "$KLE_KUBECTL" ] || { echo "FAIL: kubectl not found at $KLE_KUBECTL" >&2; exit 1; }
: "${BUILD_DIR:?BUILD_DIR is not set: the leader-elector binary is run as the release ServiceAccount}"
kle_bin="${KLE_BIN:-$BUILD_DIR/cmd/leader-elector/leader-elector}"
[ -x "$kle_bin" ] || { echo "FAIL: leader-elector binary missing at $kle_bin: build first" >&2; exit 1; }
# shellcheck source=tests/lib/ports.sh
. tests/lib/ports.sh
# shellcheck source=tests/lib/kubeconfig.sh
. tests/lib/kubeconfig.sh

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
policy="$ns.$release-leader-elector"
work="$(mktemp -d "${TMPDIR:-/tmp}/kle-helm.XXXXXX")"
elector_pid=""
cleanup() {
  [ -z "$elector_pid" ] || { kill -TERM "$elector_pid" 2>/dev/null; wait "$elector_pid" 2>/dev/null; } || true
  # Cluster-scoped: not removed with the namespace when an earlier failure skipped uninstall.
  k delete validatingadmissionpolicy "$policy.typecheck-probe" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  k delete validatingadmissionpolicybinding,validatingadmissionpolicy "$policy" "$ns.$release-sidecar-leader-elector" \
    --ignore-not-found --wait=false >/dev/null 2>&1 || true
  k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
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
if grep -qF "kubectl get lease $lease -n $ns -o jsonpath=" <<<"$out"; then ok "NOTES tell how to see the holder"
else bad "NOTES lack the lease command"; fi

for obj in deployment/$release-leader-elector serviceaccount/$release-leader-elector role/$release-leader-elector \
  rolebinding/$release-leader-elector service/$release-leader-elector-leader service/$release-leader-elector-metrics \
  poddisruptionbudget/$release-leader-elector; do
  check "$obj exists" k get -n "$ns" "$obj"
done
for obj in validatingadmissionpolicy/$policy validatingadmissionpolicybinding/$policy; do
  check "$obj exists (cluster-scoped)" k get "$obj"
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
# The pods as the apiserver stored them (after the ServiceAccount admission plugin, which would
# add a kube-api-access-<random> volume to every container if automount were on).
spod=""
for _ in $(seq 1 60); do
  # sed, not head: head exits after one line, and with pipefail the SIGPIPE kubectl then gets
  # (3 pods, written in more than one write) ended the whole script with status 141.
  spod="$(k get pods -n "$ns" -l "app.kubernetes.io/instance=$release-sidecar" -o name 2>/dev/null | sed -n 1p)"
  [ -n "$spod" ] && break
  sleep 1
done
if [ -z "$spod" ]; then
  bad "no sidecar-mode pod created (PodSecurity restricted with the projected token volume?)"
else
  ok "sidecar-mode pod created under PodSecurity restricted: $spod"
  check "sidecar pod: the app container has no volume mounts (no token)" \
    test -z "$(k get -n "$ns" "$spod" -o jsonpath='{.spec.containers[?(@.name=="app")].volumeMounts}')"
  check "sidecar pod: only the elector mounts the token, at the kubelet's path" \
    test "$(k get -n "$ns" "$spod" -o jsonpath='{range .spec.containers[*]}{.name}={.volumeMounts[*].mountPath};{end}')" \
    = "app=;leader-elector=/var/run/secrets/kubernetes.io/serviceaccount;"
  check "sidecar pod: one volume, the chart's projected token (nothing automounted)" \
    test "$(k get -n "$ns" "$spod" -o jsonpath='{.spec.automountServiceAccountToken} {.spec.volumes[*].name}')" = "false kube-api-access"
fi

# The admission policy on the real apiserver, as the chart's own ServiceAccount.
echo "admission policy $policy"
# status.typeChecking is filled in asynchronously by the apiserver's type checker.
tc=""
for _ in $(seq 1 60); do
  tc="$(k get validatingadmissionpolicy "$policy" -o jsonpath='{.metadata.generation}={.status.observedGeneration} {.status.typeChecking}')"
  [ "${tc%% *}" = "1=1" ] && break
  sleep 0.5
done
if [ "${tc%% *}" != "1=1" ]; then bad "the apiserver never type-checked the policy ($tc)"
elif grep -q expressionWarnings <<<"$tc"; then bad "type checking warns: ${tc#* }"
else ok "the apiserver type-checked the policy's CEL without warnings"
fi
# ...and it does check this policy's shape: the same policy with an undefined field (unbound,
# so it enforces nothing) gets a warning. Type checking is skipped e.g. for apiVersions "*".
probe="$policy.typecheck-probe"
h template "$release" charts/leader-elector -n "$ns" --set leaseName="$lease" \
  --show-only templates/validatingadmissionpolicy.yaml |
  sed -e "s/name: $policy\$/name: $probe/" -e 's/object.spec == oldObject.spec/object.spec.noSuchField == oldObject.spec/' |
  k apply -f - >/dev/null
tc=""
for _ in $(seq 1 60); do
  tc="$(k get validatingadmissionpolicy "$probe" -o jsonpath='{.status.typeChecking}' 2>/dev/null || true)"
  [ -n "$tc" ] && [ "$tc" != "{}" ] && break
  sleep 0.5
done
if grep -q "undefined field 'noSuchField'" <<<"$tc"; then ok "type checking is live for this policy (a broken copy gets a warning)"
else bad "a broken copy of the policy got no type-check warning: '$tc'"; fi
k delete validatingadmissionpolicy "$probe" --ignore-not-found >/dev/null

token="$(k -n "$ns" create token "$release-leader-elector" --duration=20m)"
sa_kubeconfig="$work/sa.kubeconfig"
kle_sa_kubeconfig "$sa_kubeconfig" "$token" "$ns"
ksa() { "$KLE_KUBECTL" --kubeconfig "$sa_kubeconfig" -n "$ns" "$@"; }
check "the token is the chart's ServiceAccount" bash -c "'$KLE_KUBECTL' --kubeconfig '$sa_kubeconfig' auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx '$sa'"

mapfile -t rpods < <(k get pods -n "$ns" -l "app.kubernetes.io/instance=$release" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
[ "${#rpods[@]}" -ge 3 ] || { bad "need 3 pods of release $release, have ${#rpods[@]}"; rpods+=(missing-0 missing-1 missing-2); }
pod="${rpods[0]}"
# A pod of another application in the same namespace (PodSecurity restricted applies to it too).
k apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: other-app, labels: {app: other-app}}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: registry.k8s.io/pause:3.10
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
YAML

leader_set='{"metadata":{"labels":{"leader-elector/leader":"true"}}}'
leader_clear='{"metadata":{"labels":{"leader-elector/leader":null}}}'
# denied "what" "expected message" kubectl-args... : the policy (not RBAC, not validation, not
# a CEL error) refuses it for the ServiceAccount with that validation's message, and the same
# request passes as admin.
denied() {
  local what="$1" want="$2" out; shift 2
  if out="$(ksa "$@" --dry-run=server 2>&1)"; then bad "$what: allowed for the ServiceAccount"; return; fi
  if ! grep -qF "ValidatingAdmissionPolicy '$policy' with binding '$policy' denied request: $sa $want" <<<"$out"; then
    bad "$what: refused, but not by the policy's \"$want\": $out"; return
  fi
  if ! k -n "$ns" "$@" --dry-run=server >/dev/null 2>&1; then bad "$what: also refused for admin (so not the policy's doing)"; return; fi
  ok "$what: denied by the policy (${out##*denied request: "$sa" })"
}

# The policy takes effect once the apiserver's policy informer has it: wait for the first denial.
for _ in $(seq 1 60); do
  ksa patch pod "$pod" --type=merge -p '{"metadata":{"annotations":{"probe":"x"}}}' --dry-run=server >/dev/null 2>&1 || break
  sleep 0.5
done

# The elector's exact requests: a JSON merge patch of the one label, to set it and to clear it.
check "allowed: the ServiceAccount sets the leader label on a pod of the release (real patch)" \
  ksa patch pod "$pod" --type=merge -p "$leader_set"
check "the label is there" test "$(k get pods -n "$ns" -l leader-elector/leader=true -o name)" = "pod/$pod"
check "allowed: the ServiceAccount clears it again (real patch)" ksa patch pod "$pod" --type=merge -p "$leader_clear"
check "the label is gone" test -z "$(k get pods -n "$ns" -l leader-elector/leader=true -o name)"
check "allowed: the same as a strategic merge patch" ksa patch pod "$pod" --type=strategic -p "$leader_set" --dry-run=server

denied "an image change" "may not change a pod's spec" patch pod "$pod" --type=strategic -p '{"spec":{"containers":[{"name":"leader-elector","image":"evil.example/x:1"}]}}'
denied "an image change by JSON patch" "may not change a pod's spec" patch pod "$pod" --type=json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"evil.example/x:1"}]'
denied "another label" "may change no pod label but leader-elector/leader" patch pod "$pod" --type=merge -p '{"metadata":{"labels":{"steal":"traffic"}}}'
denied "removing a selector label" "may change no pod label but leader-elector/leader" patch pod "$pod" --type=merge -p '{"metadata":{"labels":{"app.kubernetes.io/instance":null}}}'
denied "the leader label with another value" "may set leader-elector/leader only to \"true\"" patch pod "$pod" --type=merge -p '{"metadata":{"labels":{"leader-elector/leader":"false"}}}'
denied "the leader label plus another label" "may change no pod label but leader-elector/leader" patch pod "$pod" --type=merge -p '{"metadata":{"labels":{"leader-elector/leader":"true","steal":"traffic"}}}'
denied "an annotation" "may not change a pod's annotations" patch pod "$pod" --type=merge -p '{"metadata":{"annotations":{"example.com/x":"y"}}}'
denied "a finalizer" "may not change a pod's finalizers or ownerReferences" patch pod "$pod" --type=merge -p '{"metadata":{"finalizers":["example.com/block"]}}'
denied "an ownerReference" "may not change a pod's finalizers or ownerReferences" patch pod "$pod" --type=merge -p "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":\"other-app\",\"uid\":\"$(k get pod -n "$ns" other-app -o jsonpath='{.metadata.uid}')\"}]}}"
denied "the leader label on a pod of another application" "may only label pods of release $release " patch pod other-app --type=merge -p "$leader_set"
if [ -n "$spod" ]; then denied "the leader label on a pod of release $release-sidecar" "may only label pods of release $release " patch "$spod" --type=merge -p "$leader_set"
else bad "no pod of release $release-sidecar to try"; fi
# pods/status is another resource: RBAC already refuses it (the policy would too).
check "refused: a pod's status (pods/status subresource)" \
  bash -c "! '$KLE_KUBECTL' --kubeconfig '$sa_kubeconfig' -n '$ns' patch pod '$pod' --subresource=status --type=merge -p '{\"status\":{\"message\":\"x\"}}' --dry-run=server"
lease_yaml() { printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: %s}\nspec: {holderIdentity: x}\n' "$1" >"$work/$1.yaml"; echo "$work/$1.yaml"; }
denied "a Lease of another name" "may create only the Lease $lease" create -f "$(lease_yaml someone-elses)"
check "allowed: the ServiceAccount creates its own Lease $lease (dry-run)" ksa create -f "$(lease_yaml "$lease")" --dry-run=server

# The real binary as that account: as leader it clears a stale leader label on another pod of
# the release and labels its own pod; it also tries to clear the label on other-app (it lists
# every pod carrying the label in the namespace), which the policy refuses.
k label pod -n "$ns" "${rpods[1]}" other-app leader-elector/leader=true >/dev/null
port="$(kle_free_ports 1)"
POD_NAME="$pod" POD_NAMESPACE="$ns" KUBECONFIG="$sa_kubeconfig" "$kle_bin" --lease-name "$lease" \
  --http-address "127.0.0.1:$port" --lease-duration 6s --renew-deadline 4s --retry-period 1s \
  --request-timeout 2s --reconcile-interval 5s --log-format text >"$work/elector.log" 2>&1 &
elector_pid=$!
want="$(printf '%s\n' other-app "$pod" | sort | paste -sd' ')"
labelled=""
for _ in $(seq 1 60); do
  labelled="$(k get pods -n "$ns" -l leader-elector/leader=true -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort | paste -sd' ')"
  [ "$labelled" = "$want" ] && break
  sleep 0.5
done
if [ "$labelled" = "$want" ]; then
  ok "the binary as the ServiceAccount labelled its pod and cleared ${rpods[1]}; other-app kept its label"
else
  bad "pods with the leader label: '$labelled', want '$want'; elector log:"; tail -5 "$work/elector.log"
fi
if grep -qF "ValidatingAdmissionPolicy '$policy' with binding '$policy' denied request: $sa may only label pods of release $release " "$work/elector.log"; then ok "the binary's clear on other-app was denied by the policy (logged)"
else bad "the binary logged no policy denial for other-app:"; tail -5 "$work/elector.log"; fi
kill -TERM "$elector_pid" 2>/dev/null || true
wait "$elector_pid" 2>/dev/null || true
elector_pid=""

check "helm uninstall" h uninstall "$release" -n "$ns" --wait
check "helm uninstall (sidecar)" h uninstall "$release-sidecar" -n "$ns" --wait
check "uninstall removed the Role and Services" bash -c "[ -z \"\$('$KLE_KUBECTL' --kubeconfig '$KLE_ADMIN_KUBECONFIG' get role,service,deployment -n '$ns' -o name 2>/dev/null)\" ]"
check "uninstall removed the admission policies and bindings" \
  bash -c "! '$KLE_KUBECTL' --kubeconfig '$KLE_ADMIN_KUBECONFIG' get validatingadmissionpolicy,validatingadmissionpolicybinding -o name | grep -qF '/$ns.'"
echo "tests/e2e/helm_install.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
