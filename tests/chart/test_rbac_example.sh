#!/usr/bin/env bash
# manifests/rbac-example.yaml: the seed readme's ServiceAccount/Role/RoleBinding in our naming,
# least privilege, with exactly the chart's Role rules.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "manifests/rbac-example.yaml"
yaml2json <"$KLE_REPO/manifests/rbac-example.yaml" >"$tmp/example.json"
render_json --show-only templates/role.yaml >"$tmp/chart-role.json"
q() { jq -e -s "$1" "$tmp/example.json" >/dev/null; }
check "ServiceAccount, Role, RoleBinding and nothing else" q '[.[].kind] == ["ServiceAccount","Role","RoleBinding"]'
check "all named leader-elector in namespace default" q 'all(.metadata.name == "leader-elector" and .metadata.namespace == "default")'
# shellcheck disable=SC2016  # $a and $b are jq variables (--slurpfile), not shell ones
check "Role rules identical to the chart's Role" quiet jq -e -n --slurpfile a "$tmp/example.json" --slurpfile b "$tmp/chart-role.json" \
  '($a[] | select(.kind == "Role") | .rules) == $b[0].rules'
check "no verb the seed had but we do not need (list/patch/delete on leases, wildcards)" \
  q '[.[] | select(.kind == "Role") | .rules[] | select(.resources == ["leases"]) | .verbs[]] | (index("list") // index("patch") // index("delete") // index("*")) == null'
check "RoleBinding binds that Role to that ServiceAccount" \
  q '.[] | select(.kind == "RoleBinding") | .roleRef == {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"leader-elector"} and .subjects == [{"kind":"ServiceAccount","name":"leader-elector","namespace":"default"}]'
t_finish
