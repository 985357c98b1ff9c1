#!/usr/bin/env bash
# The Grafana dashboard (charts/leader-elector/dashboards/leader-election.json, copied to
# monitoring/): valid JSON with the structure Grafana needs, every query valid PromQL (parsed
# by promtool) and scoped to the selected namespace and lease.
# shellcheck disable=SC2016  # every '$...' in single quotes is jq, PromQL or Grafana syntax, never the shell's
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need promtool "Debian package prometheus"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
d="$KLE_CHART/dashboards/leader-election.json"
echo "Grafana dashboard $d"
q() { jq -e "$1" "$d" >/dev/null; }

check "valid JSON (jq)" quiet jq -e . "$d"
check "title, uid and schemaVersion set" q '.title != "" and .uid == "kle-leader-election" and (.schemaVersion | type) == "number"'
check "template variables datasource, namespace, lease" q '[.templating.list[].name] == ["datasource","namespace","lease"]'
check "panel ids unique" q '[.panels[].id] | length == (unique | length)'
check "every panel has a title, a grid position and at least one query" q 'all(.panels[]; .title != "" and .gridPos.w > 0 and .gridPos.h > 0 and (.targets | length) > 0)'
check "every panel and query uses the \${datasource} variable" q 'all(.panels[]; .datasource.uid == "${datasource}" and all(.targets[]; .datasource.uid == "${datasource}"))'
check "refIds unique within each panel" q 'all(.panels[]; [.targets[].refId] | length == (unique | length))'
check "every lease-scoped query selects \$namespace and \$lease" \
  q 'all(.panels[].targets[].expr | select(test("build_info") | not); test("namespace=\"\\$namespace\"") and test("lease=\"\\$lease\""))'
check "panels do not overlap" q '[.panels[].gridPos] as $g | [range(0; $g | length) as $i | range($i + 1; $g | length) as $j
  | select($g[$i].x < $g[$j].x + $g[$j].w and $g[$j].x < $g[$i].x + $g[$i].w and $g[$i].y < $g[$j].y + $g[$j].h and $g[$j].y < $g[$i].y + $g[$i].h)] | length == 0'

# promtool parses each query (variables substituted) as a recording rule's expression.
jq -r '.panels[].targets[].expr' "$d" | sed -e 's/\$namespace/default/g' -e 's/\$lease/leader-elector/g' >"$tmp/exprs"
{
  echo "groups:"
  echo "  - name: dashboard-queries"
  echo "    rules:"
  n=0
  while IFS= read -r e; do
    n=$((n + 1))
    printf '      - record: dashboard:query%d\n        expr: %s\n' "$n" "$(jq -R . <<<"$e")"
  done <"$tmp/exprs"
} >"$tmp/rules.yaml"
if promtool check rules "$tmp/rules.yaml" >"$tmp/out" 2>&1; then
  ok "all $(wc -l <"$tmp/exprs") queries are valid PromQL (promtool)"
else
  not_ok "promtool rejects a dashboard query:"; cat "$tmp/out"
fi
check "monitoring/grafana-dashboard.json is the same file" cmp -s "$d" "$KLE_REPO/monitoring/grafana-dashboard.json"
t_finish
