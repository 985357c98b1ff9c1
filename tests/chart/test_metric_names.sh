#!/usr/bin/env bash
# Every leader_election_* name in the Grafana dashboard and the alert rules (queries and
# annotations) is one of the contract's metrics (tests/chart/contract-metrics.txt, itself
# checked against docs/CONTRACT.md when present). Histogram series (_bucket/_sum/_count) map
# to their histogram.
# Usage: test_metric_names.sh [URL-or-file of a live /metrics]
#   With it, also checks what the binary really exports: every contract metric present with its
#   type, every name the dashboard and alerts use present, lease/namespace labels on samples.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
contract="$(dirname "${BASH_SOURCE[0]}")/contract-metrics.txt"
grep -v '^#' "$contract" | awk 'NF { print $1, $2 }' >"$tmp/contract"
echo "metric names: $(wc -l <"$tmp/contract") in the contract"

if [ -f "$KLE_REPO/docs/CONTRACT.md" ]; then
  grep -oE '^ +leader_election_[a-z_]+' "$KLE_REPO/docs/CONTRACT.md" | tr -d ' ' | sort -u >"$tmp/doc"
  check "contract-metrics.txt lists exactly the metrics of docs/CONTRACT.md" diff <(cut -d' ' -f1 "$tmp/contract" | sort) "$tmp/doc"
fi

# base NAME: the contract metric a series name belongs to, or nothing.
base() {
  local n="$1" b
  if grep -q "^$n " "$tmp/contract"; then echo "$n"; return; fi
  for suffix in _bucket _sum _count; do
    b="${n%"$suffix"}"
    if [ "$b" != "$n" ] && grep -q "^$b histogram$" "$tmp/contract"; then echo "$b"; return; fi
  done
}

used_in() {  # FILE -> the distinct leader_election_* names in it
  grep -oE 'leader_election_[a-z_]+' "$1" | sort -u
}
: >"$tmp/used"
for f in monitoring/grafana-dashboard.json monitoring/prometheus-rules.yaml; do
  names="$(used_in "$KLE_REPO/$f")"
  check "$f uses leader_election_* metrics" test -n "$names"
  unknown=""
  for n in $names; do
    b="$(base "$n")"
    if [ -n "$b" ]; then echo "$b" >>"$tmp/used"; else unknown+=" $n"; fi
  done
  check "$f: all $(wc -w <<<"$names") names are contract metrics${unknown:+ (not:$unknown)}" test -z "$unknown"
done
# The name mapping itself: a typo is caught, histogram series map to their histogram.
check "a misspelt name is not a contract metric" test -z "$(base leader_election_renewal_failure_total)"
check "_bucket of the histogram maps to it" test "$(base leader_election_renewal_duration_seconds_bucket)" = leader_election_renewal_duration_seconds
check "_count of a counter is not a metric" test -z "$(base leader_election_renewals_total_count)"
# The chart's PrometheusRule and dashboard are the same sources (test_manifests_in_sync.sh), so
# checking monitoring/ covers them.
sort -u "$tmp/used" -o "$tmp/used"
t_log "used by dashboard and alerts: $(wc -l <"$tmp/used") of $(wc -l <"$tmp/contract") contract metrics"
check "the dashboard shows every contract metric" \
  test -z "$(comm -23 <(cut -d' ' -f1 "$tmp/contract" | sort) <(used_in "$KLE_REPO/monitoring/grafana-dashboard.json" | while read -r n; do base "$n"; done | sort -u))"

if [ $# -ge 1 ]; then
  src="$1"
  if [[ "$src" == http://* || "$src" == https://* ]]; then
    curl -fsS --max-time 10 "$src" >"$tmp/live" || { not_ok "could not fetch $src"; t_finish; }
  else
    [ -f "$src" ] || t_die "no such /metrics file: $src"
    cp "$src" "$tmp/live"
  fi
  echo "live /metrics from $src: $(grep -c '^# TYPE' "$tmp/live" || true) families"
  # A family whose label values appear on first use (api_requests_total's verb/code) has no
  # series before the first API request, so it may be missing from a process that has not
  # talked to an apiserver (standalone mode). Reported, not passed.
  dynamic="$(grep -v '^#' "$contract" | awk '$3 ~ /verb/ { print $1 }')"
  # Leader-only series (the label census) must be there on a leader and absent on a follower.
  leader_only="$(grep -v '^#' "$contract" | awk '$3 == "-leader" { print $1 }')"
  live_leader=false
  grep -qE '^leader_election_is_leader\{.*\} 1$' "$tmp/live" && live_leader=true
  t_log "the live /metrics is a $($live_leader && echo leader || echo follower)'s"
  $live_leader || dynamic+=$'\n'"$leader_only"
  while read -r name type; do
    live_type="$(awk -v n="$name" '$1 == "#" && $2 == "TYPE" && $3 == n { print $4 }' "$tmp/live")"
    if ! $live_leader && grep -qx "$name" <<<"$leader_only"; then
      check "$name is not exported by a follower" test -z "$live_type"
    elif [ -z "$live_type" ] && grep -qx "$name" <<<"$dynamic"; then
      t_log "note $name not exported yet: its verb/code series appear with the first API request"
    elif [ -z "$live_type" ]; then
      not_ok "$name is not exported"
    else
      check "$name exported as $type" test "$live_type" = "$type"
    fi
  done <"$tmp/contract"
  missing=""
  while read -r n; do
    grep -q "^# TYPE $n " "$tmp/live" || grep -qx "$n" <<<"$dynamic" || missing+=" $n"
  done <"$tmp/used"
  check "every metric the dashboard and alerts use is exported${missing:+ (not:$missing)}" test -z "$missing"
  # Samples of every metric but build_info carry lease and namespace labels.
  bad="$(grep -E '^leader_election_' "$tmp/live" | grep -v '^leader_election_build_info' \
    | grep -v -E '\{(.*,)?lease="[^"]*"' | head -3 || true)"
  check "every sample carries lease=\"...\"${bad:+ (not: $bad)}" test -z "$bad"
  bad="$(grep -E '^leader_election_' "$tmp/live" | grep -v '^leader_election_build_info' \
    | grep -v -E '\{(.*,)?namespace="[^"]*"' | head -3 || true)"
  check "every sample carries namespace=\"...\"${bad:+ (not: $bad)}" test -z "$bad"
  check "build_info is 1 with a version label" grep -qE '^leader_election_build_info\{version="[^"]+"\} 1$' "$tmp/live"
  check "the histogram has the contract's buckets" grep -q 'leader_election_renewal_duration_seconds_bucket{.*le="2.5"' "$tmp/live"
fi
t_finish
