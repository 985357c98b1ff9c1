#!/usr/bin/env bash
# helm lint --strict on the chart with the default values, in sidecar mode, and with every
# optional object (ServiceMonitor, PrometheusRule, dashboard) turned on.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
echo "helm lint ($HELM_BIN)"

lint() { helm lint --strict "$KLE_CHART" "$@" >/tmp/kle-chart-lint.$$ 2>&1 || { cat /tmp/kle-chart-lint.$$; return 1; }; }
check "lint, default values" lint
check "lint, sidecar mode" lint --set sidecar.enabled=true --set sidecar.container.image=example.com/app:1.0 \
  --set 'sidecar.container.ports[0].name=web' --set 'sidecar.container.ports[0].containerPort=9000'
check "lint, all optional objects" lint --set serviceMonitor.enabled=true --set prometheusRule.enabled=true \
  --set grafanaDashboard.enabled=true --set readinessFollowsLeadership=true
check "lint, a single replica without RBAC or ServiceAccount" lint --set replicaCount=1 --set rbac.create=false \
  --set serviceAccount.create=false --set serviceAccount.name=existing
check "lint, without the admission policy" lint --set admissionPolicy.enabled=false
rm -f /tmp/kle-chart-lint.$$
t_finish
