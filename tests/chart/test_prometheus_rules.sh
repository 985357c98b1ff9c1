#!/usr/bin/env bash
# The alert rules with the real promtool: `check rules`, `test rules` (one test group or more
# per alert, firing and silent cases), and a mutation check proving each alert's firing case
# depends on that alert's expression (neutered, the unit tests must fail).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need promtool "Debian package prometheus"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
rules="$KLE_REPO/monitoring/prometheus-rules.yaml"
tests="$KLE_REPO/monitoring/prometheus-rules.test.yaml"
echo "Prometheus rules ($(promtool --version 2>&1 | head -1))"

check "promtool check rules monitoring/prometheus-rules.yaml" quiet promtool check rules "$rules"
if promtool test rules "$tests" >"$tmp/out" 2>&1; then ok "promtool test rules monitoring/prometheus-rules.test.yaml"
else not_ok "promtool test rules:"; cat "$tmp/out"; fi

alerts="$(awk '/- alert:/ { print $3 }' "$rules")"
check "the six alerts are defined" test "$(sort <<<"$alerts" | tr '\n' ' ')" = \
  "LeaderElectionFlapping LeaderElectionLabelCount LeaderElectionLabelNotOnHolder LeaderElectionMultipleLeaders LeaderElectionNoLeader LeaderElectionRenewalsFailing "
for alert in $alerts; do
  check "$alert is unit-tested (alert_rule_test names it)" grep -q -A3 "alertname: $alert\$" "$tests"
  # Replace this alert's (multi-line) expr by one that never fires; the tests must now fail.
  mkdir -p "$tmp/$alert"
  awk -v a="$alert" '
    /- alert:/ { mine = ($3 == a) }
    mine && /^ *expr:/ { print "        expr: vector(0) > 1"; skip = 1; next }
    skip && /^          / { next }
    { skip = 0; print }' "$rules" >"$tmp/$alert/prometheus-rules.yaml"
  cp "$tests" "$tmp/$alert/"
  check "mutation: $alert neutered -> its unit test fails" \
    bash -c "! promtool test rules '$tmp/$alert/prometheus-rules.test.yaml' >/dev/null 2>&1 && promtool check rules '$tmp/$alert/prometheus-rules.yaml' >/dev/null 2>&1"
done
t_finish
