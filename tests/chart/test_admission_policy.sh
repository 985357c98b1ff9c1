#!/usr/bin/env bash
# The ValidatingAdmissionPolicy and its binding that narrow the ServiceAccount's pod patches
# to the leader label on this release's pods: rendered by default, scoped to this release
# (user, namespace, selector labels, leader label, lease), gone with admissionPolicy.enabled=false,
# and NOTES.txt says which. That the apiserver compiles the CEL and denies what it must is
# proven by tests/e2e/helm_install.sh on the real apiserver.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
q() { jq -e -s "$1" "$tmp/${2:-default}.json" >/dev/null; }
vap='.[] | select(.kind=="ValidatingAdmissionPolicy")'
vapb='.[] | select(.kind=="ValidatingAdmissionPolicyBinding")'
var() { echo "($vap | .spec.variables[] | select(.name==\"$1\") | .expression)"; }

echo "helm template: admission policy, default values"
render_json >"$tmp/default.json"
check "one policy and one binding, admissionregistration.k8s.io/v1, cluster-scoped" \
  q "[($vap), ($vapb)] | length == 2 and all(.apiVersion == \"admissionregistration.k8s.io/v1\" and .metadata.namespace == null)"
check "names carry the namespace (cluster-scoped, unique per release): default.leader-elector" \
  q "[($vap), ($vapb) | .metadata.name] == [\"default.leader-elector\",\"default.leader-elector\"]"
check "binding: this policy, Deny, namespace default only" \
  q "$vapb | .spec.policyName == \"default.leader-elector\" and .spec.validationActions == [\"Deny\"] and .spec.matchResources.namespaceSelector.matchLabels == {\"kubernetes.io/metadata.name\":\"default\"}"
check "matches only the release's ServiceAccount" \
  q "$vap | .spec.matchConditions == [{\"name\":\"release-service-account\",\"expression\":\"request.userInfo.username == \\\"system:serviceaccount:default:leader-elector\\\"\"}]"
check "failurePolicy Fail (an unevaluable policy denies)" q "$vap | .spec.failurePolicy == \"Fail\""
# Explicit versions: with apiVersions "*" the apiserver skips type checking the CEL.
check "matches pods and every pod subresource, every operation; lease create; v1, Equivalent" \
  q "$vap | .spec.matchConstraints | .matchPolicy == \"Equivalent\" and .resourceRules == [{\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],\"resources\":[\"pods\",\"pods/*\"],\"operations\":[\"*\"]},{\"apiGroups\":[\"coordination.k8s.io\"],\"apiVersions\":[\"v1\"],\"resources\":[\"leases\"],\"operations\":[\"CREATE\"]}]"
check "leader key and value are CEL string literals of leaderLabel" \
  q "$(var leaderKey) == \"\\\"leader-elector/leader\\\"\" and $(var leaderValue) == \"\\\"true\\\"\""
check "releaseLabels is the Deployment's selector as a CEL map" \
  q "($(var releaseLabels) | fromjson) == (.[] | select(.kind==\"Deployment\") | .spec.selector.matchLabels)"
check "validations guard spec, annotations, finalizers, ownerReferences, other labels, subresources" \
  q "[$vap | (.spec.validations[], .spec.variables[]) | .expression] | join(\" \") | (contains(\"object.spec == oldObject.spec\") and contains(\"annotations\") and contains(\"finalizers\") and contains(\"ownerReferences\") and contains(\"variables.newLabels.all(\") and contains(\"request.subResource\"))"
check "lease create limited to the lease's name" \
  q "[$vap | .spec.validations[].expression] | any(. == \"request.resource.resource != \\\"leases\\\" || object.metadata.name == \\\"leader-elector\\\"\")"
check "every validation has a message naming the account" \
  q "[$vap | .spec.validations[] | .message | startswith(\"system:serviceaccount:default:leader-elector \")] | length == 8 and all"

echo "helm template: admission policy follows release, namespace, label, lease and account"
helm template my-rel "$KLE_CHART" --namespace team-a --set leaderLabel=example.com/active=yes \
  --set leaseName=my-lease --set serviceAccount.create=false --set serviceAccount.name=shared | yaml2json >"$tmp/custom.json"
check "names team-a.my-rel-leader-elector" q "[($vap), ($vapb) | .metadata.name] | unique == [\"team-a.my-rel-leader-elector\"]" custom
check "user system:serviceaccount:team-a:shared" q "$vap | .spec.matchConditions[0].expression | endswith(\"\\\"system:serviceaccount:team-a:shared\\\"\")" custom
check "binding limited to namespace team-a" q "$vapb | .spec.matchResources.namespaceSelector.matchLabels == {\"kubernetes.io/metadata.name\":\"team-a\"}" custom
check "leader key example.com/active=yes" q "$(var leaderKey) == \"\\\"example.com/active\\\"\" and $(var leaderValue) == \"\\\"yes\\\"\"" custom
check "selector of release my-rel" q "($(var releaseLabels) | fromjson) == {\"app.kubernetes.io/instance\":\"my-rel\",\"app.kubernetes.io/name\":\"leader-elector\"}" custom
check "lease my-lease" q "[$vap | .spec.validations[].expression] | any(endswith(\"object.metadata.name == \\\"my-lease\\\"\"))" custom

echo "helm template: admissionPolicy.enabled=false"
render_json --set admissionPolicy.enabled=false >"$tmp/off.json"
check "no policy, no binding" q '[.[] | select(.kind | startswith("ValidatingAdmissionPolicy"))] | length == 0' off
check "nothing cluster-scoped at all" q '[.[] | select(.metadata.namespace == null)] | length == 0' off
check "the rest of the release unchanged" q '[.[].kind] | sort == ["Deployment","PodDisruptionBudget","Role","RoleBinding","Service","Service","ServiceAccount"]' off

echo "helm template: cluster capabilities (helm lists served kinds when it talks to a cluster)"
old_cluster=(--api-versions admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration)
render_json "${old_cluster[@]}" --api-versions admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy >"$tmp/new-cluster.json"
check "a cluster serving ValidatingAdmissionPolicy v1 gets the policy" q "[($vap), ($vapb)] | length == 2" new-cluster
render_json "${old_cluster[@]}" --set admissionPolicy.enabled=false >"$tmp/old-cluster.json"
check "an older cluster installs with admissionPolicy.enabled=false (the refusal is in test_helm_fail_cases.sh)" \
  q '([.[] | select(.kind | startswith("ValidatingAdmissionPolicy"))] | length == 0) and any(.[]; .kind == "Deployment")' old-cluster

echo "NOTES.txt with and without the policy"
# `helm template` skips NOTES.txt: a copy of the chart renders it through `tpl` as a manifest.
cp -r "$KLE_CHART" "$tmp/chart"
cp "$KLE_CHART/templates/NOTES.txt" "$tmp/chart/notes.src"
echo 'notes: {{ tpl (.Files.Get "notes.src") . | toJson }}' >"$tmp/chart/templates/zz-notes.yaml"
notes() { helm template leader-elector "$tmp/chart" --namespace default --show-only templates/zz-notes.yaml "$@" | yaml2json | jq -r .notes; }
on="$(notes)"
off="$(notes --set admissionPolicy.enabled=false)"
check "on: names the policy and how to see its type checking" \
  grep -qF "kubectl get validatingadmissionpolicy default.leader-elector -o jsonpath='{.status.typeChecking}" <<<"$on"
without_warning() { ! grep -q WARNING <<<"$on"; }
check "on: no warning" without_warning
check "off: a WARNING that the account may patch any pod in the namespace" \
  grep -qF "WARNING: admissionPolicy.enabled=false" <<<"$off"
check "off: names the account and namespace" \
  grep -qF "system:serviceaccount:default:leader-elector may patch" <<<"$off"
check "off: tells how an administrator installs the policy alone" \
  grep -qF -- "--show-only templates/validatingadmissionpolicy.yaml --show-only templates/validatingadmissionpolicybinding.yaml" <<<"$off"
t_finish
