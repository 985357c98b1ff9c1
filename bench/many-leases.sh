#!/usr/bin/env bash
# Many leases in one process (issue #14): ours (build/.../bench/many-leases, one shared watch
# per process) beside client-go (bench/peers/clientgo-many, one LeaderElector per Lease), at
# each N, in the same run, on the real control plane.
#   bench/many-leases.sh [--counts "1 100 1000"] [--window SECONDS] [--impls "ours clientgo"]
#                        [--settle S] [--retry S] [--lease S] [--deadline S] [--out FILE] BUILD_DIR
# impls: ours (shared watch), ours-per-lease (one watch per Lease, the default mode), clientgo.
# For each N and implementation, in a namespace of its own: a leader process takes N Leases,
# then a follower process contends for the same N (and follows every one). After a settle of
# 2 retry periods, a window of --window seconds (default 60) is measured:
#   watches/proc   the follower process's watches on leases, as the apiserver counts them
#                  (apiserver_longrunning_requests{verb="WATCH",resource="leases",scope="namespace"},
#                  before/after it started)
#   follower req/min  the follower process's own requests in the window (self-counted at its client)
#   apiserver req/min apiserver_request_total{resource="leases"} (every verb but WATCH), both
#                  processes, less the control plane's own lease traffic (measured before, idle)
#   RSS            VmRSS of each process at the end; KiB per extra lease = (RSS_N - RSS_1) / (N - 1)
#   heap           live heap bytes at the end, as each process counts them (ours: malloc's
#                  mallinfo2; client-go: Go's HeapAlloc); per extra lease as for RSS
#   conns / maxq   ours: the leader process's request connections open at the end, and the most
#                  requests that waited at once for one (TransportOptions::max_connections)
#   CPU ms/min     utime + stime over the window, each process
#   lost           leadership lost in the leader process before the stop (missed renewal deadlines)
#   leading        Leases the leader process leads at the end. A process that has not led (or
#                  followed) all N within --settle seconds (default 300) is measured anyway, noted.
# Timings: lease 15 s, renew deadline 10 s, retry 2 s (client-go's defaults), as bench/run.sh.
# Uses the cluster in $KLE_CLUSTER_DIR if up, else starts one and stops it at the end. Prints a
# Markdown report (also written to FILE, default bench/results/many-leases-<utc>.md).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmdline="bench/many-leases.sh $*"
COUNTS="1 100 1000" SETTLE=300 WINDOW=60 IMPLS="ours clientgo" RETRY=2 LEASE=15 DEADLINE=10 OUT='' BUILD=''
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n 2,24p "$0"; exit 0 ;;
    --counts) COUNTS=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --impls) IMPLS=$2; shift ;;
    --retry) RETRY=$2; shift ;;
    --lease) LEASE=$2; shift ;;
    --deadline) DEADLINE=$2; shift ;;
    --out) OUT=$2; shift ;;
    -*) echo "many-leases: unknown flag $1" >&2; exit 2 ;;
    *) [ -z "$BUILD" ] || { echo "many-leases: one BUILD_DIR" >&2; exit 2; }; BUILD=$1 ;;
  esac
  shift
done
[ -n "$BUILD" ] || { echo "usage: bench/many-leases.sh [flags] BUILD_DIR" >&2; exit 2; }
OURS="$(cd "$BUILD" && pwd)/bench/many-leases"
[ -x "$OURS" ] || { echo "many-leases: $OURS is not built (cmake --build $BUILD --target many-leases)" >&2; exit 1; }
log() { printf '[many-leases %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
cluster_ensure many-leases
# shellcheck disable=SC1091  # written by tests/cluster/up
. "$KLE_CLUSTER_DIR/env"
CG=''
case " $IMPLS " in *" clientgo "*) CG="$("$repo/bench/peers/clientgo-many/build.sh")" ;; esac
RUN="$(mktemp -d "${TMPDIR:-/tmp}/kle-many-leases.XXXXXX")"
OUT="${OUT:-$repo/bench/results/many-leases-$(date -u +%Y%m%dT%H%M%SZ).md}"
mkdir -p "$(dirname "$OUT")"
PIDS=()
finish() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cluster_release
  [ "$rc" -eq 0 ] || log "FAILED (exit $rc); logs in $RUN"
}
trap finish EXIT

metrics() {
  curl -fsS --max-time 20 --cacert "$KLE_CA_FILE" --cert "$KLE_CLUSTER_DIR/pki/admin.crt" \
    --key "$KLE_CLUSTER_DIR/pki/admin.key" "$KLE_SERVER/metrics"
}
lease_watches() {  # namespaced only: the controller-manager's cluster-wide lease monitors come and go
  metrics | awk '/^apiserver_longrunning_requests\{/ && /resource="leases"/ && /verb="WATCH"/ && /scope="namespace"/ {s += $NF} END {print s + 0}'
}
lease_requests() {  # every lease request but WATCH, counted by the apiserver
  metrics | awk '/^apiserver_request_total\{/ && /resource="leases"/ && !/verb="WATCH"/ {s += $NF} END {print s + 0}'
}
proc_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start IMPL ROLE N NS: one process in the background (a child of this shell, so `wait` works);
# its output goes to $RUN/IMPL-N-ROLE.log and its pid to $STARTED.
start() {
  local impl=$1 role=$2 n=$3 ns=$4 logf="$RUN/$1-$3-$2.log"
  case "$impl" in
    ours|ours-per-lease)
      local mode=shared; [ "$impl" = ours ] || mode=per-lease
      "$OURS" --kubeconfig "$KLE_ADMIN_KUBECONFIG" --namespace "$ns" --prefix shard --count "$n" --id "$role" \
        --mode "$mode" --lease-duration "$LEASE" --renew-deadline "$DEADLINE" --retry-period "$RETRY" >"$logf" 2>&1 &
      ;;
    clientgo)
      "$CG" --kubeconfig "$KLE_ADMIN_KUBECONFIG" --namespace "$ns" --prefix shard --count "$n" --id "$role" \
        --lease-duration "${LEASE}s" --renew-deadline "${DEADLINE}s" --retry-period "${RETRY}s" >"$logf" 2>&1 &
      ;;
    *) echo "many-leases: unknown impl $impl" >&2; exit 2 ;;
  esac
  STARTED=$!
  PIDS+=("$STARTED")
  for _ in $(seq 300); do grep -q '^ready$' "$logf" && return 0; sleep 0.1; done
  echo "many-leases: $logf: the process never said ready" >&2; exit 1
}
# status PID LOG FIELD: asks the process for a status line and prints FIELD of it.
status() {
  local before after
  before=$(grep -c '^status ' "$2" || true)
  kill -USR1 "$1"
  for _ in $(seq 100); do
    after=$(grep -c '^status ' "$2" || true)
    [ "$after" -gt "$before" ] && break
    sleep 0.1
  done
  [ "$after" -gt "$before" ] || { echo "many-leases: no status from pid $1 ($2)" >&2; exit 1; }
  grep '^status ' "$2" | tail -n 1 | tr ' ' '\n' | awk -F= -v f="$3" '$1 == f {print $2; found = 1} END {if (!found) print 0}'
}
# wait_for PID LOG FIELD N LIMIT_S: until the process reports FIELD = N; 1 if it did not within
# LIMIT_S (the point is measured anyway, and its row says so: a result, not a crash).
wait_for() {
  local t0=$SECONDS v
  while :; do
    v=$(status "$1" "$2" "$3")
    [ "$v" = "$4" ] && return 0
    [ $((SECONDS - t0)) -lt "$5" ] || { log "$2: $3=$v, wanted $4 within $5 s; measuring anyway"; return 1; }
    sleep 2
  done
}

declare -A R=()  # results by "impl,N,key"
measure() {
  local impl=$1 n=$2 ns="ml-$1-$2-$$" lp fp w0 w1 q0 q1 fr0 fr1 c0l c0f c1l c1f
  log "$impl N=$n: namespace $ns"
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" create namespace "$ns" >/dev/null
  R[$impl,$n,note]=''
  start "$impl" leader "$n" "$ns"; lp=$STARTED
  wait_for "$lp" "$RUN/$impl-$n-leader.log" leading "$n" "$SETTLE" ||
    R[$impl,$n,note]=" (leader: not all led within ${SETTLE} s)"
  w0=$(lease_watches)
  start "$impl" follower "$n" "$ns"; fp=$STARTED
  wait_for "$fp" "$RUN/$impl-$n-follower.log" following "$n" "$SETTLE" ||
    R[$impl,$n,note]+=" (follower: not all followed within ${SETTLE} s)"
  sleep $((2 * RETRY))
  w1=$(lease_watches)
  q0=$(lease_requests); fr0=$(status "$fp" "$RUN/$impl-$n-follower.log" requests)
  c0l=$(proc_cpu_ticks "$lp"); c0f=$(proc_cpu_ticks "$fp")
  log "$impl N=$n: measuring ${WINDOW}s"
  sleep "$WINDOW"
  q1=$(lease_requests); fr1=$(status "$fp" "$RUN/$impl-$n-follower.log" requests)
  c1l=$(proc_cpu_ticks "$lp"); c1f=$(proc_cpu_ticks "$fp")
  R[$impl,$n,watches]=$((w1 - w0))
  R[$impl,$n,freq]=$(awk -v a="$fr0" -v b="$fr1" -v w="$WINDOW" 'BEGIN {printf "%.1f", (b - a) * 60 / w}')
  R[$impl,$n,apireq]=$(awk -v a="$q0" -v b="$q1" -v w="$WINDOW" -v bg="$BG" 'BEGIN {printf "%.0f", (b - a) * 60 / w - bg}')
  R[$impl,$n,rssl]=$(proc_rss_kib "$lp"); R[$impl,$n,rssf]=$(proc_rss_kib "$fp")
  local hz; hz=$(getconf CLK_TCK)
  R[$impl,$n,cpul]=$(awk -v a="$c0l" -v b="$c1l" -v w="$WINDOW" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) * 1000 / hz * 60 / w}')
  R[$impl,$n,cpuf]=$(awk -v a="$c0f" -v b="$c1f" -v w="$WINDOW" -v hz="$hz" 'BEGIN {printf "%.0f", (b - a) * 1000 / hz * 60 / w}')
  R[$impl,$n,heapl]=$(( $(status "$lp" "$RUN/$impl-$n-leader.log" heap) / 1024 ))
  R[$impl,$n,heapf]=$(( $(status "$fp" "$RUN/$impl-$n-follower.log" heap) / 1024 ))
  R[$impl,$n,conns]=$(status "$lp" "$RUN/$impl-$n-leader.log" conns)
  R[$impl,$n,maxq]=$(status "$lp" "$RUN/$impl-$n-leader.log" maxq)
  R[$impl,$n,lost]=$(status "$lp" "$RUN/$impl-$n-leader.log" lost)
  R[$impl,$n,leading]=$(status "$lp" "$RUN/$impl-$n-leader.log" leading)
  kill -TERM "$fp" "$lp"
  wait "$fp" "$lp" 2>/dev/null || true
  PIDS=()
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" delete namespace "$ns" --wait=false >/dev/null
}

# The control plane renews leases of its own (controller-manager, scheduler, the kwok node):
# measured once, idle, and subtracted.
BG_S=$(( WINDOW < 30 ? WINDOW : 30 ))
q0=$(lease_requests); sleep "$BG_S"; q1=$(lease_requests)
BG=$(awk -v a="$q0" -v b="$q1" -v w="$BG_S" 'BEGIN {printf "%.1f", (b - a) * 60 / w}')
log "control plane's own lease requests: $BG/min"
for n in $COUNTS; do
  for impl in $IMPLS; do measure "$impl" "$n"; done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print (a == 0 ? "=" : "inf"); else printf "%.1f", a / b}'; }
per_lease() {  # impl N role [rss|heap]: KiB per extra lease against the smallest N of the run
  local first what=${4:-rss}; first=${COUNTS%% *}
  if [ "$2" = "$first" ]; then echo "-"; return; fi
  awk -v a="${R[$1,$2,$what$3]}" -v b="${R[$1,$first,$what$3]}" -v n="$2" -v m="$first" 'BEGIN {printf "%.2f", (a - b) / (n - m)}'
}
ratio_per_lease() {
  if [ "$1" = "${COUNTS%% *}" ]; then echo -; else ratio "$(per_lease clientgo "$1" f)" "$(per_lease ours "$1" f)"; fi
}
{
  echo "### many-leases: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "\`$cmdline\`: window ${WINDOW} s per point, lease ${LEASE} s / renew deadline ${DEADLINE} s / retry ${RETRY} s,"
  echo "control plane's own lease requests (subtracted): $BG/min;"
  echo "leader and follower processes of N Leases each; client-go $(awk '$1=="k8s.io/client-go"{print $2}' "$repo/bench/peers/clientgo-many/go.mod")."
  echo
  echo "| N | impl | watches (follower proc) | follower req/min | apiserver lease req/min | RSS leader / follower KiB | KiB per extra lease (L / F) | heap L / F KiB | heap KiB per extra lease (L / F) | conns / maxq (L) | CPU ms/min (L / F) | leading | lost |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for n in $COUNTS; do
    for impl in $IMPLS; do
      echo "| $n | $impl | ${R[$impl,$n,watches]} | ${R[$impl,$n,freq]} | ${R[$impl,$n,apireq]} | ${R[$impl,$n,rssl]} / ${R[$impl,$n,rssf]} | $(per_lease "$impl" "$n" l) / $(per_lease "$impl" "$n" f) | ${R[$impl,$n,heapl]} / ${R[$impl,$n,heapf]} | $(per_lease "$impl" "$n" l heap) / $(per_lease "$impl" "$n" f heap) | ${R[$impl,$n,conns]} / ${R[$impl,$n,maxq]} | ${R[$impl,$n,cpul]} / ${R[$impl,$n,cpuf]} | ${R[$impl,$n,leading]}/$n | ${R[$impl,$n,lost]}${R[$impl,$n,note]} |"
    done
  done
  case " $IMPLS " in *" ours "*) case " $IMPLS " in *" clientgo "*)
    echo
    echo "Ratios client-go / ours (\"=\": both 0, \"inf\": ours is 0):"
    echo
    echo "| N | watches | follower req/min | apiserver req/min | RSS follower | KiB per extra lease (F) | CPU/min (L) | CPU/min (F) |"
    echo "|---|---|---|---|---|---|---|---|"
    for n in $COUNTS; do
      echo "| $n | $(ratio "${R[clientgo,$n,watches]}" "${R[ours,$n,watches]}") | $(ratio "${R[clientgo,$n,freq]}" "${R[ours,$n,freq]}") | $(ratio "${R[clientgo,$n,apireq]}" "${R[ours,$n,apireq]}") | $(ratio "${R[clientgo,$n,rssf]}" "${R[ours,$n,rssf]}") | $(ratio_per_lease "$n") | $(ratio "${R[clientgo,$n,cpul]}" "${R[ours,$n,cpul]}") | $(ratio "${R[clientgo,$n,cpuf]}" "${R[ours,$n,cpuf]}") |"
    done ;;
  esac ;; esac
} | tee "$OUT"
log "report: $OUT; logs: $RUN"
