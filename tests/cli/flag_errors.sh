#!/usr/bin/env bash
# The real binary refuses bad flags before any config discovery: exit 2 and exactly one
# line on stderr (no "running standalone" warning first, no sanitizer report), for the
# duration overflows, the int32 lease, timing rules, names, the label and the address.
# Usage: flag_errors.sh path/to/leader-elector
set -u
bin=${1:?usage: $0 path/to/leader-elector}
[[ -x $bin ]] || { echo "FAIL: $bin is not executable"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# No cluster configuration anywhere (no KUBECONFIG, no in-cluster variables, an empty HOME):
# a flag that slipped through would run standalone, so the timeout below catches it.
# The HTTP address comes from the environment so a case can still pass --http-address.
clean_env=(env -i PATH="$PATH" HOME="$tmp" LEADER_ELECTOR_HTTP_ADDRESS=127.0.0.1:0)
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  [[ -n ${!v:-} ]] && clean_env+=("$v=${!v}")
done

failures=0
# expect_usage_error WANT [VAR=VALUE...] -- FLAGS...
expect_usage_error() {
  local want=$1 rc=0 lines
  shift
  local extra_env=()
  while [[ $1 != -- ]]; do extra_env+=("$1"); shift; done
  shift
  timeout 10 "${clean_env[@]}" "${extra_env[@]}" "$bin" "$@" \
    >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  lines=$(wc -l <"$tmp/err")
  local shown_args
  shown_args=$(printf '%q ' "${extra_env[@]}" "$@" | cut -c1-80)
  if [[ $rc -eq 2 && $lines -eq 1 ]] && grep -qF -- "$want" "$tmp/err"; then
    echo "ok: $shown_args-> $(cut -c1-160 "$tmp/err")"
  else
    echo "FAIL: $shown_args-> exit $rc, $lines line(s) on stderr; want exit 2 and one line containing '$want':"
    head -c 2000 "$tmp/err" | sed 's/^/  | /'
    failures=$((failures + 1))
  fi
}

many_parts=$(printf '1000000000h%.0s' $(seq 2600))

# Item 6: every duration flag has a maximum; checked arithmetic in the parser.
expect_usage_error "--reconcile-interval" -- --reconcile-interval 1000000000h
expect_usage_error "--workload-grace" -- --workload-grace 1000000000h
expect_usage_error "--lease-duration" -- --lease-duration 1000000000h
expect_usage_error "--lease-duration" -- --lease-duration "$many_parts"
expect_usage_error "--renew-deadline" -- --renew-deadline 1000000000h
expect_usage_error "--retry-period" -- --retry-period 1000000000h
expect_usage_error "--request-timeout" -- --request-timeout 1000000000h
expect_usage_error "--workload-grace" LEADER_ELECTOR_WORKLOAD_GRACE=2h --
# Item 7: a lease the Lease cannot state exactly.
expect_usage_error "--lease-duration" -- --lease-duration 71582788m31s
expect_usage_error "whole number of seconds" -- --lease-duration 1500ms
# Item 11: timing and name errors, validated before discovery.
expect_usage_error "--renew-deadline" -- --renew-deadline 2s
expect_usage_error "--lease-name" -- --lease-name My_Lease
expect_usage_error "--namespace" -- --namespace a.b
expect_usage_error "--namespace" POD_NAMESPACE=Not_A_Label --
expect_usage_error "--leader-label" -- --leader-label novalue
expect_usage_error "--http-address" -- --http-address not-an-address
# Issue 13: a label prefix that is no DNS-1123 subdomain used to pass, then fail every patch.
expect_usage_error "--leader-label" -- --leader-label a..b/x=true
# The pod selector (two releases in one namespace): bad terms, bad names, the leader key.
expect_usage_error "--pod-selector" -- --pod-selector app
expect_usage_error "--pod-selector" -- --pod-selector 'app in (a)'
expect_usage_error "--pod-selector" -- --pod-selector a..b/x=y
expect_usage_error "--pod-selector" LEADER_ELECTOR_POD_SELECTOR=leader-elector/leader=true --
expect_usage_error "--lease-name" -- --lease-name $'forged\n{"level":"info","msg":"line"}'

if ((failures > 0)); then
  echo "$failures case(s) failed"
  exit 1
fi
