#!/usr/bin/env bash
# Benchmarks three Lease electors on the real control plane, with the same timings:
#   ours      BUILD_DIR/cmd/leader-elector/leader-elector (--label-pods=false)
#   clientgo  bench/peers/clientgo (client-go tools/leaderelection, ReleaseOnCancel)
#   node      bench/peers/node (@codedependant/kubernetes-leader-election)
# Profile "client-go": lease 15s, renew deadline 10s, retry 2s. The node elector has only a
# renew interval and a lease duration: renew interval = retry period (2s: how often the leader
# writes, as in client-go), lease duration = 15s; it has no renew deadline.
#
#   bench/run.sh [--quick] [--n N] [--crash-runs K] [--first-runs R] [--aged-runs A]
#                [--idle-seconds S] [--electors "ours clientgo node"] [--out FILE] BUILD_DIR
# --quick: N=10, K=2, R=3, A=1, idle 20s (about 10 minutes). Default: N=50, K=5, R=5, A=2, idle 60s.
# Handover runs signal the leader 1 s after a new follower is ready; the A "aged" runs wait
# lease duration + 2 s first (a follower that has been idle for longer than one lease).
# Uses the cluster in $KLE_CLUSTER_DIR if one is up there, else starts one (tests/cluster/up)
# and stops it at the end. Writes a Markdown report to FILE (default bench/results/<utc>.md)
# and prints it. Exit status: 0 if every scenario ran (a peer failing a scenario is reported,
# not fatal), non-zero if the benchmark itself could not run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmdline="bench/run.sh $(printf '%q ' "$@")"; cmdline=${cmdline% }
N=50 K=5 R=5 A=2 IDLE=60 ELECTORS="ours clientgo node" OUT='' QUICK=false BUILD=''
# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
quick() { QUICK=true N=10 K=2 R=3 A=1 IDLE=20; }
CLI_SWITCH=([--quick]=quick)
CLI_VALUE=([--n]=N [--crash-runs]=K [--first-runs]=R [--aged-runs]=A [--idle-seconds]=IDLE
           [--electors]=ELECTORS [--out]=OUT)
cli_parse bench 2,20 "$@"
[ "${#CLI_ARGS[@]}" -le 1 ] || { echo "bench: one BUILD_DIR at most, got ${CLI_ARGS[*]}" >&2; exit 2; }
BUILD="${CLI_ARGS[0]:-}"
[ -n "$BUILD" ] || { echo "usage: bench/run.sh [--quick] ... BUILD_DIR" >&2; exit 2; }
BUILD_DIR="$(cd "$BUILD" 2>/dev/null && pwd)" || { echo "bench: no build dir '$BUILD'" >&2; exit 2; }
export BUILD_DIR
for t in jq curl python3 awk; do command -v "$t" >/dev/null || { echo "bench: $t is required" >&2; exit 1; }; done
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

own_cluster=false
# shellcheck disable=SC1091  # the cluster's env file exists only once a cluster runs
if [ -z "${KLE_CLUSTER_DIR:-}" ] || [ ! -f "$KLE_CLUSTER_DIR/env" ] || ! (. "$KLE_CLUSTER_DIR/env" &&
  curl -fsS -o /dev/null --max-time 3 --cacert "$KLE_CA_FILE" --cert "$KLE_CLUSTER_DIR/pki/admin.crt" \
    --key "$KLE_CLUSTER_DIR/pki/admin.key" "$KLE_SERVER/readyz"); then
  KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-bench-$(id -un)-$$"
  export KLE_CLUSTER_DIR
  log "starting a control plane in $KLE_CLUSTER_DIR"
  "$repo/tests/cluster/up" >/dev/null
  own_cluster=true
fi
BE_LEASE_S=15 BE_DEADLINE_S=10 BE_RETRY_S=2 BE_REQ_TIMEOUT_S=5
. "$repo/bench/lib/electors.sh"
for e in $ELECTORS; do
  case "$e" in ours) be_need_ours ;; clientgo) be_need_clientgo ;; node) be_need_node ;; *) be_die "unknown elector $e" ;; esac
done
OUT="${OUT:-$repo/bench/results/$(date -u +%Y%m%dT%H%M%SZ).md}"
mkdir -p "$(dirname "$OUT")"
finish() {
  local rc=$?
  be_stop_all; be_watch_stop
  $own_cluster && "$repo/tests/cluster/down" >/dev/null 2>&1
  [ "$rc" -eq 0 ] || log "FAILED (exit $rc); logs in $BE_RUN"
  exit "$rc"
}
trap finish EXIT

# --- helpers -----------------------------------------------------------------------------
# stats <file of numbers>: "n p50 p95 p99 max" (nearest rank; with n < 100, p99 is the max).
stats() {
  sort -n "$1" | awk '{v[NR]=$1} END { if (NR == 0) { print "0 - - - -"; exit }
    split("50 95 99", q, " "); out = NR
    for (i = 1; i <= 3; i++) { r = int((q[i] * NR + 99) / 100); if (r < 1) r = 1; out = out " " v[r] }
    print out " " v[NR] }'
}
apiserver_leases() {
  curl -fsS --max-time 5 --cacert "$KLE_CA_FILE" --cert "$KLE_CLUSTER_DIR/pki/admin.crt" \
    --key "$KLE_CLUSTER_DIR/pki/admin.key" "$KLE_SERVER/metrics" |
    awk '/^apiserver_request_total\{/ && /resource="leases"/ && !/verb="WATCH"/ { s += $NF } END { print s + 0 }'
}
declare -A SEQ=()
# next_id E: sets ID (not echoed: a $(...) subshell would lose the counter).
next_id() { SEQ[$1]=$(( ${SEQ[$1]:-0} + 1 )); ID="$1-${SEQ[$1]}"; }
# ready_follower ID LEADER: until the follower shows it has seen the leader (ours: /leader
# holder; client-go: "new leader"; node: no such signal, its start line), max 15 s.
ready_follower() {
  local id=$1 leader=$2 i
  for ((i = 0; i < 150; i++)); do
    case "${BE_KIND[$id]}" in
      ours) [ "$(be_seen_holder "$id")" = "$leader" ] && return 0 ;;
      clientgo) grep -qs " $id new leader $leader\$" "$BE_RUN/$id.log" && return 0 ;;
      node) grep -qs " $id starting " "$BE_RUN/$id.log" && return 0 ;;
    esac
    sleep 0.1
  done
  return 1
}
# pair_up E LEASE: a fresh leader + follower; sets LEADER and FOLLOWER.
pair_up() {
  local e=$1 lease=$2 t
  kadm delete lease "$lease" --ignore-not-found >/dev/null
  next_id "$e"; LEADER=$ID; be_start "$e" "$LEADER" "$lease"
  t=$(be_wait_holder "$W" "$LEADER" "${BE_T0[$LEADER]}" $((BE_LEASE_S * 2))) || return 1
  next_id "$e"; FOLLOWER=$ID; be_start "$e" "$FOLLOWER" "$lease"
  ready_follower "$FOLLOWER" "$LEADER" || return 1
}
stop_kind() { local id; for id in "${!BE_PID[@]}"; do [ "${BE_KIND[$id]}" = "$1" ] && be_stop "$id" TERM; done; return 0; }

declare -A R_FIRST R_HAND R_CRASH R_IDLE R_CRASH_SINCE R_AGED
# --- scenarios -----------------------------------------------------------------------------
first_acquisition() {
  local e=$1 lease=$2 f="$BE_RUN/$1.first" i id t fails=0
  : >"$f"
  for ((i = 0; i < R; i++)); do
    kadm delete lease "$lease" --ignore-not-found >/dev/null
    next_id "$e"; id=$ID; be_start "$e" "$id" "$lease"
    if t=$(be_wait_holder "$W" "$id" "${BE_T0[$id]}" $((BE_LEASE_S * 2))); then
      echo $((t - BE_T0[$id])) >>"$f"
    else fails=$((fails + 1)); log "$e: $id did not acquire a free lease within $((BE_LEASE_S * 2))s"; fi
    be_stop "$id" TERM
  done
  R_FIRST[$e]="$(stats "$f") $fails"
  log "$e first acquisition (ms): n p50 p95 p99 max fails = ${R_FIRST[$e]}"
}

idle_window() {
  local e=$1 lease=$2 a0 a1 b0 b1 s0 s1 l0 l1 f0 f1 hz lr fr
  pair_up "$e" "$lease" || { R_IDLE[$e]="FAILED: no leader+follower pair"; log "$e idle: ${R_IDLE[$e]}"; return 0; }
  sleep $((BE_RETRY_S * 3))   # past start-up traffic
  hz=$(getconf CLK_TCK)
  s0=$(apiserver_leases); l0=$(be_requests "$LEADER" | cut -d' ' -f1); f0=$(be_requests "$FOLLOWER" | cut -d' ' -f1)
  a0=$(be_proc_stats "${BE_PID[$LEADER]}"); b0=$(be_proc_stats "${BE_PID[$FOLLOWER]}")
  sleep "$IDLE"
  s1=$(apiserver_leases); lr=$(be_requests "$LEADER"); fr=$(be_requests "$FOLLOWER")
  a1=$(be_proc_stats "${BE_PID[$LEADER]}"); b1=$(be_proc_stats "${BE_PID[$FOLLOWER]}")
  l1=${lr%% *} f1=${fr%% *}
  [ "$(be_watch_holder "$W")" = "$LEADER" ] || log "warn: $e idle: holder changed during the window ($(be_watch_holder "$W"))"
  R_IDLE[$e]=$(awk -v w="$IDLE" -v hz="$hz" -v s="$((s1 - s0))" -v b="$BASELINE" -v bw="$BASE_S" \
    -v l="$((l1 - l0))" -v f="$((f1 - f0))" -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN {
      split(a0, A0, " "); split(a1, A1, " "); split(b0, B0, " "); split(b1, B1, " ")
      printf "%.1f %.1f %.1f %.1f %d %d %d %d %.2f %.2f", l * 60 / w, f * 60 / w, s * 60 / w, s * 60 / w - b * 60 / bw,
        A1[1], B1[1], A1[2], B1[2], (A1[3] - A0[3]) / hz * 60 / w, (B1[3] - B0[3]) / hz * 60 / w }')
  R_IDLE_DETAIL[$e]="leader: $lr; follower: $fr"
  log "$e idle: ${R_IDLE[$e]} (${R_IDLE_DETAIL[$e]})"
}
declare -A R_IDLE_DETAIL

# One leader/follower pair; per run: signal the leader, time until the follower holds the
# Lease (watch event arrival), then start a new follower. Three failures in a row end it.
transitions() {
  local e=$1 lease=$2 sig=$3 runs=$4 f=$5 settle=${6:-1} i t0 t old fails=0 consec=0 timeout
  : >"$f"; : >"$f.since"
  [ "$sig" = KILL ] && timeout=$((BE_LEASE_S * 3)) || timeout=$((BE_LEASE_S * 2))
  pair_up "$e" "$lease" || { log "$e: no leader+follower pair"; echo "$runs" >"$f.fails"; return 0; }
  for ((i = 0; i < runs; i++)); do
    sleep "$settle"
    old=$LEADER t0=$(be_now_ms)
    be_stop "$old" "$sig"
    if t=$(be_wait_holder "$W" "$FOLLOWER" "$t0" "$timeout"); then
      echo $((t - t0)) >>"$f"; consec=0
      # From the last write of the old leader that the watch saw (for kill -9: the time the
      # follower's expiry clock really starts from).
      awk -F'|' -v o="$old" -v a="$t0" -v t="$t" '$1 < a && $3 == o { l = $1 } END { if (l) print t - l }' "$W" >>"$f.since"
      LEADER=$FOLLOWER
      next_id "$e"; FOLLOWER=$ID; be_start "$e" "$FOLLOWER" "$lease"
      ready_follower "$FOLLOWER" "$LEADER" || log "warn: $e follower $FOLLOWER shows no sign of following $LEADER"
    else
      fails=$((fails + 1)); consec=$((consec + 1))
      log "$e SIG$sig run $((i + 1)): $FOLLOWER did not take the lease within ${timeout}s (holder now '$(be_watch_holder "$W")')"
      stop_kind "$e"
      [ "$consec" -ge 3 ] && { log "$e SIG$sig: 3 failures in a row, giving up after $((i + 1)) of $runs runs"; fails=$((fails + runs - i - 1)); break; }
      pair_up "$e" "$lease" || { fails=$((fails + runs - i - 1)); break; }
    fi
    [ $(( (i + 1) % 10 )) -eq 0 ] && log "$e SIG$sig: $((i + 1))/$runs"
  done
  echo "$fails" >"$f.fails"
  stop_kind "$e"
}

# --- run -----------------------------------------------------------------------------------
W="$BE_RUN/watch.log"
log "profile: lease ${BE_LEASE_S}s, renew deadline ${BE_DEADLINE_S}s, retry ${BE_RETRY_S}s; N=$N crash=$K first=$R idle=${IDLE}s; electors: $ELECTORS; logs: $BE_RUN"
BASE_S=$(( IDLE < 30 ? IDLE : 30 ))
log "baseline: lease requests at the apiserver over ${BASE_S}s with no elector running"
b0=$(apiserver_leases); sleep "$BASE_S"; BASELINE=$(( $(apiserver_leases) - b0 ))
log "baseline: $BASELINE lease requests in ${BASE_S}s"
t_start=$SECONDS
for e in $ELECTORS; do
  lease="bench-$e"
  kadm delete lease "$lease" --ignore-not-found >/dev/null
  be_watch_start "$lease" "$W.$e"; W="$W.$e"
  log "== $e"
  first_acquisition "$e" "$lease"
  idle_window "$e" "$lease"
  stop_kind "$e"
  transitions "$e" "$lease" TERM "$N" "$BE_RUN/$e.handover"
  R_HAND[$e]="$(stats "$BE_RUN/$e.handover") $(cat "$BE_RUN/$e.handover.fails")"
  log "$e graceful handover (ms): n p50 p95 p99 max fails = ${R_HAND[$e]}"
  transitions "$e" "$lease" TERM "$A" "$BE_RUN/$e.aged" $((BE_LEASE_S + 2))
  R_AGED[$e]="$(stats "$BE_RUN/$e.aged") $(cat "$BE_RUN/$e.aged.fails")"
  log "$e graceful handover, aged follower (ms): n p50 p95 p99 max fails = ${R_AGED[$e]}"
  transitions "$e" "$lease" KILL "$K" "$BE_RUN/$e.crash"
  R_CRASH[$e]="$(stats "$BE_RUN/$e.crash") $(cat "$BE_RUN/$e.crash.fails")"
  R_CRASH_SINCE[$e]="$(stats "$BE_RUN/$e.crash.since")"
  log "$e crash failover (ms): n p50 p95 p99 max fails = ${R_CRASH[$e]}"
  be_watch_stop; W="$BE_RUN/watch.log"
  kadm delete lease "$lease" --ignore-not-found >/dev/null
done
elapsed=$((SECONDS - t_start))

# --- report --------------------------------------------------------------------------------
ver_of() {
  case "$1" in
    ours) echo "$("$BE_OURS_BIN" --version 2>/dev/null | head -n 1 || true) ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || echo '?') build, $BUILD_DIR)" ;;
    clientgo) echo "k8s.io/client-go $(be_version_clientgo) ($(go version 2>/dev/null | awk '{print $3}'))" ;;
    node) echo "@codedependant/kubernetes-leader-election $(be_version_node) (node $(node --version))" ;;
  esac
}
row() { # name n p50 p95 p99 max fails
  local name=$1 n=$2 p50=$3 p95=$4 p99=$5 max=$6 fails=$7; shift 7
  echo "| $name | $n | $fails | $p50 | $p95 | $p99 | $max | $* |"
}
{
  echo "## Run of $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "- command: \`$cmdline\` ($(if $QUICK; then echo quick; else echo full; fi) profile; scenarios took ${elapsed}s)"
  echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
  echo "- control plane: kube-apiserver $("$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" version -o json 2>/dev/null | jq -r .serverVersion.gitVersion) on 127.0.0.1 (tests/cluster/up), etcd with --unsafe-no-fsync"
  for e in $ELECTORS; do echo "- $e: $(ver_of "$e")"; done
  echo "- timings: lease ${BE_LEASE_S}s, renew deadline ${BE_DEADLINE_S}s, retry ${BE_RETRY_S}s (node: renew_interval_ms=$((BE_RETRY_S * 1000)), lease_duration_sec=$BE_LEASE_S; it has no renew deadline or follower retry)"
  echo "- the holder is observed with \`kubectl get leases --field-selector metadata.name=<lease> -w\`, each event stamped on arrival; times are from just before the signal to the arrival of the first event naming the new holder"
  echo
  echo "### Graceful handover (SIGTERM the leader until the follower holds the Lease), ms. Target p99 < 250 ms"
  echo
  echo "| elector | runs ok | failed | p50 | p95 | p99 | max | target met |"
  echo "|---|---|---|---|---|---|---|---|"
  for e in $ELECTORS; do
    read -r n p50 p95 p99 max fails <<<"${R_HAND[$e]}"
    ok=no; [ "$fails" -eq 0 ] && [ "$p99" != - ] && [ "$p99" -lt 250 ] && ok=yes
    row "$e" "$n" "$p50" "$p95" "$p99" "$max" "$fails" "$ok"
  done
  echo
  echo "Same, but the follower has been running for lease duration + 2 s before the SIGTERM (${A} run(s) each; a timeout of $((BE_LEASE_S * 2)) s counts as failed):"
  echo
  echo "| elector | runs ok | failed | p50 | max | target met |"
  echo "|---|---|---|---|---|---|"
  for e in $ELECTORS; do
    read -r n p50 p95 p99 max fails <<<"${R_AGED[$e]}"
    ok=no; [ "$fails" -eq 0 ] && [ "$max" != - ] && [ "$max" -lt 250 ] && ok=yes
    echo "| $e | $n | $fails | $p50 | $max | $ok |"
  done
  echo
  echo "### Crash failover (kill -9 the leader until the follower holds the Lease), ms. Target <= lease duration + 300 = $((BE_LEASE_S * 1000 + 300)) ms"
  echo
  echo "| elector | runs ok | failed | p50 | p95 | p99 | max | max - lease duration | target met | from the dead leader's last write: min / p50 / max |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for e in $ELECTORS; do
    read -r n p50 p95 p99 max fails <<<"${R_CRASH[$e]}"
    over=-; [ "$max" != - ] && over=$((max - BE_LEASE_S * 1000))
    ok=no; [ "$fails" -eq 0 ] && [ "$max" != - ] && [ "$max" -le $((BE_LEASE_S * 1000 + 300)) ] && ok=yes
    read -r _ sp50 _ _ smax <<<"${R_CRASH_SINCE[$e]}"
    row "$e" "$n" "$p50" "$p95" "$p99" "$max" "$fails" "$over | $ok | $(sort -n "$BE_RUN/$e.crash.since" | head -n 1) / $sp50 / $smax"
  done
  echo
  echo "### Time to first acquisition (process start until the Lease names it; no Lease before), ms"
  echo
  echo "| elector | runs ok | failed | p50 | p95 | p99 | max |"
  echo "|---|---|---|---|---|---|---|"
  for e in $ELECTORS; do
    read -r n p50 p95 p99 max fails <<<"${R_FIRST[$e]}"
    echo "| $e | $n | $fails | $p50 | $p95 | $p99 | $max |"
  done
  echo
  echo "### Idle: one leader + one follower for ${IDLE}s. Targets: follower <= 1 request/min, RSS < 8 MB"
  echo
  echo "Requests per minute: *self* = counted by the elector (ours: its leader_election_api_requests_total; peers: a counter at their HTTP transport); *apiserver* = apiserver_request_total{resource=\"leases\"} (non-WATCH) for leader + follower together, raw and minus the no-elector baseline ($BASELINE in ${BASE_S}s). Long-running WATCHes are counted by the apiserver only when they end."
  echo
  echo "| elector | leader req/min (self) | follower req/min (self) | apiserver req/min (raw) | apiserver req/min (- baseline) | leader RSS MiB (anon) | follower RSS MiB (anon) | leader CPU s/min | follower CPU s/min | follower <= 1/min | RSS < 8 MB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for e in $ELECTORS; do
    if [[ "${R_IDLE[$e]}" == FAILED* ]]; then echo "| $e | ${R_IDLE[$e]} |||||||||"; continue; fi
    read -r lr fr sr sb ar br aa ba ac bc <<<"${R_IDLE[$e]}"
    echo "| $e | $lr | $fr | $sr | $sb | $(awk -v k="$ar" -v n="$aa" 'BEGIN{printf "%.1f (%.1f)", k/1024, n/1024}') | $(awk -v k="$br" -v n="$ba" 'BEGIN{printf "%.1f (%.1f)", k/1024, n/1024}') | $ac | $bc | $(awk -v f="$fr" 'BEGIN{print (f <= 1 ? "yes" : "no")}') | $(awk -v a="$ar" -v b="$br" 'BEGIN{print (a < 8192 && b < 8192 ? "yes" : "no")}') |"
  done
  echo
  echo "RSS is VmRSS from /proc/PID/status at the end of the window, (anon) its RssAnon part (the rest is file-backed: the binary and shared libraries); CPU is utime+stime from /proc/PID/stat over the window (clock ticks of 1/$(getconf CLK_TCK) s), scaled to one minute."
  echo
  echo "Request breakdown over the window (cumulative counts since process start, VERB:CODE):"
  echo
  for e in $ELECTORS; do echo "- $e: ${R_IDLE_DETAIL[$e]:-none}"; done
} >"$OUT"
cat "$OUT"
log "report: $OUT (logs: $BE_RUN)"
