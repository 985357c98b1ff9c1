#!/usr/bin/env bash
# helm template with the default values and in sidecar mode: the objects exist and have the
# shape the design asks for (hardened pod, probes, downward API, least-privilege Role, a leader
# Service selecting on the leader label). Assertions run on JSON (jq), not on text.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

echo "helm template: default values"
render_json >"$tmp/default.json"
q() { jq -e -s "$1" "$tmp/${2:-default}.json" >/dev/null; }
kinds='[.[] | .kind] | sort == ["Deployment","PodDisruptionBudget","Role","RoleBinding","Service","Service","ServiceAccount","ValidatingAdmissionPolicy","ValidatingAdmissionPolicyBinding"]'
check "exactly Deployment, SA, Role, RoleBinding, 2 Services, PDB, admission policy + binding (no optional objects)" q "$kinds"
dep='.[] | select(.kind=="Deployment")'
elector="$dep | .spec.template.spec.containers[] | select(.name==\"leader-elector\")"
check "3 replicas" q "$dep | .spec.replicas == 3"
check "image defaults to appVersion" q "$elector | .image == \"ghcr.io/kube-leader-elector/leader-elector:0.1.0\""
check "args carry the contract's flags" q "[$elector | .args[]] | index(\"--lease-name=leader-elector\") != null and index(\"--leader-label=leader-elector/leader=true\") != null and index(\"--http-address=0.0.0.0:8080\") != null and index(\"--lease-duration=15s\") != null and index(\"--renew-deadline=10s\") != null and index(\"--retry-period=2s\") != null and index(\"--release-on-stop=true\") != null"
# Other variables may come from the downward API too (the handover's revision); these two must.
check "POD_NAME/POD_NAMESPACE from the downward API" q "[$elector | .env[] | {(.name): .valueFrom.fieldRef.fieldPath}] | add | .POD_NAME == \"metadata.name\" and .POD_NAMESPACE == \"metadata.namespace\""
check "liveness /healthz and readiness /readyz on port http" q "$elector | .livenessProbe.httpGet == {\"path\":\"/healthz\",\"port\":\"http\"} and .readinessProbe.httpGet == {\"path\":\"/readyz\",\"port\":\"http\"} and (.ports[0] | .name == \"http\" and .containerPort == 8080)"
check "container: read-only root, no escalation, drop ALL, non-root 65532, seccomp" q "$elector | .securityContext | .readOnlyRootFilesystem == true and .allowPrivilegeEscalation == false and .capabilities.drop == [\"ALL\"] and .runAsNonRoot == true and .runAsUser == 65532 and .seccompProfile.type == \"RuntimeDefault\""
check "pod: runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault" q "$dep | .spec.template.spec.securityContext | .runAsNonRoot == true and .runAsUser == 65532 and .seccompProfile.type == \"RuntimeDefault\""
check "resources have requests and limits" q "$elector | .resources.requests.cpu and .resources.requests.memory and .resources.limits.cpu and .resources.limits.memory"
check "grace period set, no preStop" q "$dep | .spec.template.spec | .terminationGracePeriodSeconds == 30 and ([.containers[].lifecycle.preStop] | all(. == null))"
# The kubelet's automount, made explicit for the elector container alone.
sa_path=/var/run/secrets/kubernetes.io/serviceaccount
token_volume='{"name":"kube-api-access","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"path":"token","expirationSeconds":3607}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}}'
check "no automounted token: automountServiceAccountToken false" q "$dep | .spec.template.spec.automountServiceAccountToken == false"
check "projected token volume: bound token, kube-root-ca.crt, namespace (the kubelet's shape)" q "$dep | .spec.template.spec.volumes == [$token_volume]"
check "the elector mounts it read-only at $sa_path" q "$elector | .volumeMounts == [{\"name\":\"kube-api-access\",\"mountPath\":\"$sa_path\",\"readOnly\":true}]"
role='.[] | select(.kind=="Role") | .rules'
check "Role: lease get/update/watch limited to the one lease" q "$role | any(.resources == [\"leases\"] and .resourceNames == [\"leader-elector\"] and .verbs == [\"get\",\"update\",\"watch\"])"
check "Role: lease create on its own (cannot be limited by name)" q "$role | any(.resources == [\"leases\"] and .resourceNames == null and .verbs == [\"create\"])"
check "Role: pods get/list/patch and nothing else" q "$role | length == 3 and any(.resources == [\"pods\"] and .verbs == [\"get\",\"list\",\"patch\"]) and ([.[].verbs[]] | index(\"*\") == null) and ([.[].verbs[]] | index(\"delete\") == null)"
check "no cluster-wide RBAC" q '[.[] | select(.kind | test("^Cluster"))] | length == 0'
check "RoleBinding binds the Role to the ServiceAccount" q '.[] | select(.kind=="RoleBinding") | .roleRef.name == "leader-elector" and .subjects == [{"kind":"ServiceAccount","name":"leader-elector","namespace":"default"}]'
pod_sel="$dep | .spec.selector.matchLabels"
# Two releases in one namespace with the same leader label: each leader cleans up only its own
# release's pods, which the Deployment's own selector names.
check "--pod-selector is the Deployment's selector as k=v,..." q "([$elector | .args[] | select(startswith(\"--pod-selector=\"))] == [\"--pod-selector=\" + ($pod_sel | to_entries | sort_by(.key) | map(.key + \"=\" + .value) | join(\",\"))]) and ($pod_sel | length) == 2"
check "leader Service selector = pod selector + leader label" q "(.[] | select(.kind==\"Service\" and .metadata.name==\"leader-elector-leader\") | .spec.selector) == ($pod_sel + {\"leader-elector/leader\":\"true\"})"
check "metrics Service: port http 8080 on every replica, not-ready included" q "(.[] | select(.kind==\"Service\" and .metadata.name==\"leader-elector-metrics\")) as \$s | \$s.spec.ports == [{\"name\":\"http\",\"port\":8080,\"targetPort\":\"http\",\"protocol\":\"TCP\"}] and \$s.spec.selector == ($pod_sel) and \$s.spec.publishNotReadyAddresses == true"
check "PDB maxUnavailable 1 over the pods" q "(.[] | select(.kind==\"PodDisruptionBudget\") | .spec) as \$p | \$p.maxUnavailable == 1 and \$p.selector.matchLabels == ($pod_sel)"

echo "helm template: custom leader label, lease name and readiness mode"
render_json --set leaderLabel=example.com/active=yes --set leaseName=my-lease --set readinessFollowsLeadership=true >"$tmp/custom.json"
check "leader Service selects the custom label" q '.[] | select(.metadata.name=="leader-elector-leader") | .spec.selector["example.com/active"] == "yes"' custom
check "Role names the custom lease" q '.[] | select(.kind=="Role") | .rules[0].resourceNames == ["my-lease"]' custom
check "--readiness-follows-leadership passed" q '[.[] | select(.kind=="Deployment") | .spec.template.spec.containers[0].args[]] | index("--readiness-follows-leadership") != null' custom

echo "helm template: sidecar mode"
render_json --set sidecar.enabled=true --set sidecar.container.image=example.com/app:1.0 \
  --set 'sidecar.container.ports[0].name=web' --set 'sidecar.container.ports[0].containerPort=9000' >"$tmp/sidecar.json"
sdep='.[] | select(.kind=="Deployment") | .spec.template'
check "pod runs the user's container and the elector" q "[$sdep | .spec.containers[].name] == [\"app\",\"leader-elector\"]" sidecar
check "user's container kept as given" q "$sdep | .spec.containers[0] | .image == \"example.com/app:1.0\" and .ports == [{\"name\":\"web\",\"containerPort\":9000}]" sidecar
check "kubectl defaults to the user's container" q "$sdep | .metadata.annotations[\"kubectl.kubernetes.io/default-container\"] == \"app\"" sidecar
check "leader Service routes to the user's port" q '.[] | select(.metadata.name=="leader-elector-leader") | .spec.ports[0].targetPort == "web" and .spec.selector["leader-elector/leader"] == "true"' sidecar
check "metrics still from the elector's http port" q '.[] | select(.metadata.name=="leader-elector-metrics") | .spec.ports[0].targetPort == "http"' sidecar
check "no token for the app: automount off, the app has no mount at $sa_path" q "$sdep | .spec.automountServiceAccountToken == false and (.spec.containers[0] | .name == \"app\" and ([.volumeMounts[]?.mountPath] | index(\"$sa_path\") == null) and ([.volumeMounts[]?.name] | index(\"kube-api-access\") == null))" sidecar
check "only the elector mounts the token volume" q "[$sdep | .spec.containers[] | select(any(.volumeMounts[]?; .name == \"kube-api-access\")) | .name] == [\"leader-elector\"]" sidecar

echo "helm template: optional objects"
render_json --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true \
  --set prometheusRule.flappingThreshold=9 --set prometheusRule.noLeaderFor=7m >"$tmp/optional.json"
check "ServiceMonitor scrapes port http with honorLabels" q '.[] | select(.kind=="ServiceMonitor") | .apiVersion == "monitoring.coreos.com/v1" and .spec.endpoints[0].port == "http" and .spec.endpoints[0].honorLabels == true' optional
check "PrometheusRule has the six alerts" q '[.[] | select(.kind=="PrometheusRule") | .spec.groups[].rules[].alert] | sort == ["LeaderElectionFlapping","LeaderElectionLabelCount","LeaderElectionLabelNotOnHolder","LeaderElectionMultipleLeaders","LeaderElectionNoLeader","LeaderElectionRenewalsFailing"]' optional
check "alert thresholds follow the values" q '[.[] | select(.kind=="PrometheusRule") | .spec.groups[].rules[] | select(.alert=="LeaderElectionFlapping" or .alert=="LeaderElectionNoLeader")] | (.[] | select(.alert=="LeaderElectionFlapping") | .expr | endswith("> 9")) and (.[] | select(.alert=="LeaderElectionNoLeader") | .for == "7m")' optional
check "dashboard ConfigMap labelled grafana_dashboard=1 holds valid JSON" q '.[] | select(.kind=="ConfigMap") | .metadata.labels.grafana_dashboard == "1" and (.data["leader-election.json"] | fromjson | .uid == "kle-leader-election")' optional

echo "helm template: NOTES.txt"
# `helm template` skips NOTES.txt and `helm install --dry-run` needs a cluster, so a copy of the
# chart renders NOTES.txt through `tpl` as an ordinary manifest.
cp -r "$KLE_CHART" "$tmp/chart"
cp "$KLE_CHART/templates/NOTES.txt" "$tmp/chart/notes.src"
echo 'notes: {{ tpl (.Files.Get "notes.src") . | toJson }}' >"$tmp/chart/templates/zz-notes.yaml"
notes="$(helm template leader-elector "$tmp/chart" --namespace default --show-only templates/zz-notes.yaml | yaml2json | jq -r .notes)"
t_log "NOTES.txt rendered $(wc -l <<<"$notes") lines"
check "NOTES shows how to see the holder" grep -qF "kubectl get lease leader-elector -n default -o jsonpath='{.spec.holderIdentity}" <<<"$notes"
check "NOTES shows how to find the labelled pod" grep -qF "kubectl get pods -n default -l leader-elector/leader=true" <<<"$notes"
t_finish
