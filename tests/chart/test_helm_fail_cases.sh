#!/usr/bin/env bash
# Values that must NOT render: each case asserts that helm fails AND that its error names the
# problem (the expected text), so a failure for an unrelated reason does not count.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
echo "helm template with invalid values"

# must_fail "expected error text" helm-args...
must_fail() {
  local want="$1"; shift
  local out
  if out="$(helm template leader-elector "$KLE_CHART" --namespace default "$@" 2>&1)"; then
    not_ok "$* rendered, expected an error containing: $want"
  elif grep -qF -- "$want" <<<"$out"; then
    ok "$* -> $want"
  else
    not_ok "$* failed, but without \"$want\": $(grep -m1 Error <<<"$out")"
  fi
}

must_fail "replicaCount must be at least 1 (got 0)" --set replicaCount=0
must_fail "replicaCount must be at least 1 (got -2)" --set replicaCount=-2
must_fail "election.leaseDuration (10s) must be greater than election.renewDeadline (10s)" --set election.leaseDuration=10s
must_fail "election.leaseDuration (15s) must be greater than election.renewDeadline (20s)" --set election.renewDeadline=20s
must_fail "election.leaseDuration 15500ms must be a positive whole number of seconds" --set election.leaseDuration=15500ms
must_fail "election.renewDeadline (10s) must be greater than 1.2 x election.retryPeriod (9s)" --set election.retryPeriod=9s
must_fail "election.requestTimeout (10s) must be positive and below election.renewDeadline (10s)" --set election.requestTimeout=10s
must_fail "'/election/renewDeadline': 'ten seconds' does not match pattern" --set "election.renewDeadline=ten seconds"
must_fail 'leaderLabel "leader-elector/leader" must be KEY=VALUE' --set leaderLabel=leader-elector/leader
must_fail 'leaderLabel key "-bad/leader" is not a valid label key' --set leaderLabel=-bad/leader=true
must_fail 'leaderLabel key "Example.com/leader" is not a valid label key' --set leaderLabel=Example.com/leader=true
must_fail "leaderLabel key \"$(printf 'k%.0s' {1..64})\" is not a valid label key" --set "leaderLabel=$(printf 'k%.0s' {1..64})=true"
must_fail 'leaderLabel value "" is not a valid non-empty label value' --set leaderLabel=leader-elector/leader=
must_fail 'leaderLabel value "a b" is not a valid non-empty label value' --set "leaderLabel=leader-elector/leader=a b"
must_fail 'leaseName "My_Lease" is not a valid object name' --set leaseName=My_Lease
must_fail "sidecar.enabled is true but sidecar.container.image is empty" --set sidecar.enabled=true
must_fail "sidecar.enabled: set leaderService.targetPort or give sidecar.container at least one port" \
  --set sidecar.enabled=true --set sidecar.container.image=example.com/app:1.0
must_fail "sidecar.container port 8080 collides with the elector's http.port 8080" --set sidecar.enabled=true \
  --set sidecar.container.image=example.com/app:1.0 --set 'sidecar.container.ports[0].containerPort=8080'
must_fail 'sidecar.container port name "http" is the elector' --set sidecar.enabled=true \
  --set sidecar.container.image=example.com/app:1.0 --set 'sidecar.container.ports[0].containerPort=80' --set 'sidecar.container.ports[0].name=http'
must_fail 'sidecar.container.name must not be "leader-elector"' --set sidecar.enabled=true \
  --set sidecar.container.image=example.com/app:1.0 --set sidecar.container.name=leader-elector --set leaderService.targetPort=80
must_fail 'sidecar.container must not mount the volume "kube-api-access"' --set sidecar.enabled=true \
  --set sidecar.container.image=example.com/app:1.0 --set 'sidecar.container.ports[0].containerPort=80' \
  --set 'sidecar.container.volumeMounts[0].name=kube-api-access' --set 'sidecar.container.volumeMounts[0].mountPath=/token'
must_fail 'leaderLabel key "app.kubernetes.io/instance" is one of the pod selector labels' --set leaderLabel=app.kubernetes.io/instance=x
# A cluster that serves admission webhooks but not ValidatingAdmissionPolicy (Kubernetes < 1.30).
must_fail "admissionPolicy.enabled: this cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy" \
  --api-versions admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration
must_fail "serviceAccount.name is required when serviceAccount.create is false" --set serviceAccount.create=false
# The schema (values.schema.json) rejects unknown keys and out-of-range enumerations.
must_fail "additional properties 'replicas' not allowed" --set replicas=3
must_fail "'/log/level': value must be one of" --set log.level=verbose
must_fail "'/image/pullPolicy': value must be one of" --set image.pullPolicy=Sometimes
must_fail "'/admissionPolicy/enabled': got string, want boolean" --set-string admissionPolicy.enabled=no
must_fail "additional properties 'namespaces' not allowed" --set admissionPolicy.namespaces=x
t_finish
