#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes two leader-elector replicas on loopback. Proves the
# exposition parses (promtool check metrics), the targets are up, and the series say what
# they should: exactly one leader, renewals counting, API requests by verb and code.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KLE_APP=kle-prom
. tests/e2e/lib/controllers.sh
command -v prometheus >/dev/null || { echo "FAIL: prometheus not installed (hack/deps.sh)"; exit 1; }
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (hack/deps.sh)"; exit 1; }

prom_pid=""
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  kle_stop_all
  kle_delete_pods
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$KLE_RUN_DIR"/*.log >&2; exit 1; }

kle_create_pods 2
kle_start 0
kle_start 1
wait_until 30 bash -c "[ -n \"\$(\"$KLE_KUBECTL\" --kubeconfig \"$KLE_ADMIN_KUBECONFIG\" -n \"$KLE_NAMESPACE\" get lease \"$KLE_LEASE\" -o jsonpath='{.spec.holderIdentity}')\" ]" ||
  fail "no leader"

# The leader's label census (leader_election_labelled_pods / _label_matches_holder) appears
# with its first label round: wait for the label, then for the series.
leader_pod=$(kle_holder)
li=${leader_pod##*-}
labelled_ok() { [ "$(kle_labelled)" = "$leader_pod" ]; }
wait_until 30 labelled_ok || fail "leader $leader_pod not labelled: '$(kle_labelled)'"
census_ok() {
  curl -sf "http://127.0.0.1:${KLE_PORT[$li]}/metrics" >"$KLE_RUN_DIR/census.txt" || return 1
  grep -qE '^leader_election_labelled_pods\{.*\} 1$' "$KLE_RUN_DIR/census.txt" &&
    grep -qE '^leader_election_label_matches_holder\{.*\} 1$' "$KLE_RUN_DIR/census.txt"
}
wait_until 30 census_ok || fail "the leader does not report labelled_pods 1 and label_matches_holder 1"

for i in 0 1; do
  curl -sf "http://127.0.0.1:${KLE_PORT[$i]}/metrics" >"$KLE_RUN_DIR/metrics-$i.txt" || fail "scrape of replica $i failed"
  promtool check metrics <"$KLE_RUN_DIR/metrics-$i.txt" || fail "promtool check metrics rejected replica $i's exposition"
done
echo "ok: promtool check metrics accepts both replicas' /metrics"
# The dashboard and alert rules may only use names this live binary really exports; the
# leader must export the leader-only series, the follower must not (test_metric_names.sh).
for i in 0 1; do
  tests/chart/test_metric_names.sh "$KLE_RUN_DIR/metrics-$i.txt" >"$KLE_RUN_DIR/metric-names-$i.txt" 2>&1 ||
    { cat "$KLE_RUN_DIR/metric-names-$i.txt" >&2; fail "replica $i: dashboard/alerts use names the live /metrics lacks"; }
  grep -q "the live /metrics is a $([ "$i" = "$li" ] && echo leader || echo follower)'s" "$KLE_RUN_DIR/metric-names-$i.txt" ||
    fail "replica $i's /metrics was not checked as the $([ "$i" = "$li" ] && echo leader || echo follower)'s"
  echo "ok: replica $i: every metric the dashboard and alerts use is in the live /metrics ($(tail -n 1 "$KLE_RUN_DIR/metric-names-$i.txt"))"
done

port=$(free_port)
cat >"$KLE_RUN_DIR/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: leader-elector
    static_configs: [{targets: ["127.0.0.1:${KLE_PORT[0]}", "127.0.0.1:${KLE_PORT[1]}"]}]
YAML
prometheus --config.file="$KLE_RUN_DIR/prometheus.yml" --storage.tsdb.path="$KLE_RUN_DIR/tsdb" \
  --web.listen-address="127.0.0.1:$port" >"$KLE_RUN_DIR/prometheus.log" 2>&1 &
prom_pid=$!

query() { curl -sf --get "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
targets_up() { [ "$(query 'sum(up{job="leader-elector"})')" = "2" ]; }
wait_until 60 targets_up || fail "Prometheus did not see both targets up"
echo "ok: Prometheus scrapes both replicas (up == 2)"

# Both targets up means each was scraped once, not that those scrapes came after the election
# settled (the two are scraped at different instants): wait for the sum to say one leader.
leaders_query="sum(leader_election_is_leader{lease=\"$KLE_LEASE\",namespace=\"$KLE_NAMESPACE\"})"
one_leader() { [ "$(query "$leaders_query")" = "1" ]; }
wait_until 60 one_leader || fail "sum(leader_election_is_leader) = '$(query "$leaders_query")', want 1"
echo "ok: sum(leader_election_is_leader) == 1"
renewals_grow() { local v; v=$(query 'sum(leader_election_renewals_total)'); [ -n "$v" ] && [ "${v%.*}" -ge 2 ]; }
wait_until 30 renewals_grow || fail "renewals_total does not grow"
puts=$(query 'sum(leader_election_api_requests_total{verb="PUT",code="200"})')
[[ -n $puts && ${puts%.*} -ge 1 ]] || fail "no successful PUTs counted: '$puts'"
echo "ok: renewals counted ($(query 'sum(leader_election_renewals_total)')), PUT 200 requests counted ($puts)"
hist=$(query 'sum(leader_election_renewal_duration_seconds_count)')
[[ -n $hist && ${hist%.*} -ge 1 ]] || fail "renewal latency histogram empty"
echo "ok: renewal latency histogram has $hist observations"
# The cluster-level label check through Prometheus: one series (the leader's), saying one
# labelled pod and that it is the holder's.
scope="lease=\"$KLE_LEASE\",namespace=\"$KLE_NAMESPACE\""
census_seen() {
  [ "$(query "count(leader_election_labelled_pods{$scope})")" = 1 ] &&
    [ "$(query "max(leader_election_labelled_pods{$scope})")" = 1 ] &&
    [ "$(query "min(leader_election_label_matches_holder{$scope})")" = 1 ]
}
wait_until 30 census_seen ||
  fail "Prometheus: labelled_pods series=$(query "count(leader_election_labelled_pods{$scope})") value=$(query "max(leader_election_labelled_pods{$scope})"), matches_holder=$(query "min(leader_election_label_matches_holder{$scope})")"
echo "ok: Prometheus sees the leader's label check: 1 labelled pod, on the holder (one series, the leader's)"
echo "prometheus_scrape: passed"
