# Shared by bench/run.sh and tests/e2e/interop_clientgo.sh: start, stop and observe the three
# electors (ours, client-go, node) on the real control plane of tests/cluster/up, and watch a
# Lease with `kubectl get leases -w`, timestamping each event as it arrives.
# Source after setting KLE_CLUSTER_DIR and BUILD_DIR. Every elector uses the ADMIN kubeconfig
# (benchmark leases are not the restricted account's kle-lease).
# shellcheck shell=bash

BE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${KLE_CLUSTER_DIR:?KLE_CLUSTER_DIR is not set: start the cluster with tests/cluster/up}"
[ -f "$KLE_CLUSTER_DIR/env" ] || { echo "no $KLE_CLUSTER_DIR/env: is the cluster up?" >&2; exit 1; }
# shellcheck disable=SC1091
. "$KLE_CLUSTER_DIR/env"
: "${BUILD_DIR:?BUILD_DIR is not set}"
BE_OURS_BIN="${KLE_BIN:-$BUILD_DIR/cmd/leader-elector/leader-elector}"
BE_RUN="${BE_RUN:-$(mktemp -d "${TMPDIR:-/tmp}/kle-bench.XXXXXX")}"
BE_NS="$KLE_NAMESPACE"
# Timings (seconds). Node has no renew deadline / retry period: its renew interval gets the
# retry period (how often the leader writes, as in client-go) and its duration the lease's.
BE_LEASE_S="${BE_LEASE_S:-15}" BE_DEADLINE_S="${BE_DEADLINE_S:-10}" BE_RETRY_S="${BE_RETRY_S:-2}"
BE_REQ_TIMEOUT_S="${BE_REQ_TIMEOUT_S:-5}"
declare -gA BE_PID=() BE_KIND=() BE_PORT=() BE_T0=()

be_die() { echo "FAIL: $*" >&2; exit 1; }
# For the interop tests: fail with the end of every log in the run directory.
be_fail() {
  echo "FAIL: $*" >&2
  for f in "$BE_RUN"/*.log; do echo "--- $f (tail)" >&2; tail -n 15 "$f" >&2; done
  exit 1
}
# For the interop tests' EXIT trap: stop a background sampler (if its PID is given), every
# elector and the Lease watch, and delete the Lease.
be_cleanup() {
  local lease=$1 sampler=${2:-}
  [ -n "$sampler" ] && { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }
  be_stop_all; be_watch_stop
  kadm delete lease "$lease" --ignore-not-found >/dev/null 2>&1 || true
}
be_now_ms() { local t=$EPOCHREALTIME; echo $(( ${t/./} / 1000 )); }
kadm() { "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n "$BE_NS" "$@"; }
# shellcheck source=../../tests/lib/ports.sh
. "$BE_REPO/tests/lib/ports.sh"
be_free_port() { kle_free_ports 1 || be_die "no free TCP port"; }

# The peers are built (client-go) or installed (node) on demand; failing that is fatal.
be_need_ours() { [ -x "$BE_OURS_BIN" ] || be_die "our leader-elector is missing at $BE_OURS_BIN (build it first)"; }
be_need_clientgo() {
  [ -n "${BE_CG_BIN:-}" ] && return 0
  BE_CG_BIN="$("$BE_REPO/bench/peers/clientgo/build.sh")" || be_die "could not build the client-go peer (bench/peers/clientgo/build.sh)"
  [ -x "$BE_CG_BIN" ] || be_die "client-go peer binary missing after build: '$BE_CG_BIN'"
}
be_need_node() {
  local d="$BE_REPO/bench/peers/node"
  command -v node >/dev/null || be_die "node is not installed: the node peer cannot run"
  if [ ! -d "$d/node_modules/@codedependant/kubernetes-leader-election" ]; then
    (cd "$d" && npm ci --no-audit --no-fund >&2) || be_die "npm ci failed in $d"
  fi
}
be_version_clientgo() { awk '$1=="k8s.io/client-go"{print $2}' "$BE_REPO/bench/peers/clientgo/go.mod"; }
be_version_node() { node -p "require('$BE_REPO/bench/peers/node/node_modules/@codedependant/kubernetes-leader-election/package.json').version" 2>/dev/null; }

# be_start KIND ID LEASE: starts one elector in the background; its log is $BE_RUN/ID.log.
be_start() {
  local kind=$1 id=$2 lease=$3 log="$BE_RUN/$2.log" port
  # Port picking (a python3 start) happens before the clock starts: T0 is the exec.
  [ "$kind" = ours ] && { port=$(be_free_port); BE_PORT[$id]=$port; }
  # shellcheck disable=SC2034  # BE_T0 is read by bench/run.sh, which sources this file
  BE_T0[$id]=$(be_now_ms)
  case "$kind" in
    ours)
      be_need_ours
      KUBECONFIG="$KLE_ADMIN_KUBECONFIG" POD_NAMESPACE="$BE_NS" "$BE_OURS_BIN" \
        --lease-name "$lease" --identity "$id" --namespace "$BE_NS" --label-pods=false \
        --http-address "127.0.0.1:$port" --lease-duration "${BE_LEASE_S}s" \
        --renew-deadline "${BE_DEADLINE_S}s" --retry-period "${BE_RETRY_S}s" \
        --request-timeout "${BE_REQ_TIMEOUT_S}s" >>"$log" 2>&1 &
      ;;
    clientgo)
      be_need_clientgo
      "$BE_CG_BIN" --kubeconfig "$KLE_ADMIN_KUBECONFIG" --namespace "$BE_NS" --lease-name "$lease" \
        --id "$id" --lease-duration "${BE_LEASE_S}s" --renew-deadline "${BE_DEADLINE_S}s" \
        --retry-period "${BE_RETRY_S}s" >>"$log" 2>&1 &
      ;;
    node)
      be_need_node
      KUBECONFIG="$KLE_ADMIN_KUBECONFIG" LEASE_NAME="$lease" LEASE_NAMESPACE="$BE_NS" IDENTITY="$id" \
        RENEW_INTERVAL_MS=$((BE_RETRY_S * 1000)) LEASE_DURATION_SEC="$BE_LEASE_S" \
        node "$BE_REPO/bench/peers/node/runner.js" >>"$log" 2>&1 &
      ;;
    *) be_die "unknown elector kind '$kind'" ;;
  esac
  BE_PID[$id]=$!
  BE_KIND[$id]=$kind
  # Also in files, for background samplers forked before a restart (their arrays are stale).
  echo "$!" >"$BE_RUN/$id.pid"; echo "${BE_PORT[$id]:-}" >"$BE_RUN/$id.port"; echo "$kind" >"$BE_RUN/$id.kind"
}
be_pid_of() { cat "$BE_RUN/$1.pid" 2>/dev/null || echo "${BE_PID[$1]:-}"; }
be_port_of() { cat "$BE_RUN/$1.port" 2>/dev/null || echo "${BE_PORT[$1]:-}"; }

be_alive() { local p; p=$(be_pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# be_stop ID [SIGNAL]: signals one elector and reaps it (SIGKILL after 20 s).
be_stop() {
  local id=$1 sig=${2:-TERM} pid=${BE_PID[$1]:-} i
  [ -n "$pid" ] || return 0
  # stderr off while the job is reaped: bash would report "Killed" for every kill -9.
  {
    kill -"$sig" "$pid" || true
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" || break; sleep 0.1; done
  } 2>/dev/null
  kill -0 "$pid" 2>/dev/null && { echo "warn: $id (pid $pid) still running 20s after SIG$sig: SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  { wait "$pid" || true; } 2>/dev/null
  unset "BE_PID[$id]"
}
be_stop_all() { local id; for id in "${!BE_PID[@]}"; do be_stop "$id" TERM; done; }

# be_is_leader ID: what the elector itself believes. Ours: /leader isLeader. client-go: the last
# of "started leading"/"stopped leading" in its log. Node: the last of "acquired"/"lost".
be_is_leader() {
  local id=$1 last
  be_alive "$id" || { echo false; return; }
  case "$(cat "$BE_RUN/$id.kind" 2>/dev/null || echo "${BE_KIND[$id]}")" in
    ours) curl -s --max-time 1 "http://127.0.0.1:$(be_port_of "$id")/leader" | jq -r '.isLeader // false' 2>/dev/null || echo unknown ;;
    clientgo) last=$(grep -E " $id (started leading|stopped leading)\$" "$BE_RUN/$id.log" 2>/dev/null | tail -n 1)
      [[ "$last" == *"started leading" ]] && echo true || echo false ;;
    node) last=$(grep -E " $id (acquired|lost)\$" "$BE_RUN/$id.log" 2>/dev/null | tail -n 1)
      [[ "$last" == *acquired ]] && echo true || echo false ;;
  esac
}
# Ours only: the holder it sees.
be_seen_holder() { curl -s --max-time 1 "http://127.0.0.1:$(be_port_of "$1")/leader" | jq -r '.holder // empty' 2>/dev/null || true; }

# Lease watch: `kubectl get leases --field-selector metadata.name=LEASE -w`, one line per event:
#   <unix ms at arrival>|<resourceVersion>|<holder>|<transitions>|<duration>|<acquireTime>|<renewTime>
BE_WATCH_PID='' BE_WATCH_READER=''
be_watch_start() {
  local lease=$1 file=$2
  : >"$file"; rm -f "$file.fifo"; mkfifo "$file.fifo"
  # The reader and kubectl are separate background jobs (kubectl started as a simple command,
  # so $! is kubectl itself), with no inherited stdout: stopping kubectl ends the reader.
  (while IFS= read -r l; do t=$EPOCHREALTIME; echo "$(( ${t/./} / 1000 ))|$l"; done <"$file.fifo" >>"$file") \
    </dev/null >/dev/null 2>&1 &
  BE_WATCH_READER=$!
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n "$BE_NS" get leases \
    --field-selector "metadata.name=$lease" -w -o \
    jsonpath='{.metadata.resourceVersion}{"|"}{.spec.holderIdentity}{"|"}{.spec.leaseTransitions}{"|"}{.spec.leaseDurationSeconds}{"|"}{.spec.acquireTime}{"|"}{.spec.renewTime}{"\n"}' \
    </dev/null >"$file.fifo" 2>>"$file.err" &
  BE_WATCH_PID=$!
  sleep 0.5
  kill -0 "$BE_WATCH_PID" 2>/dev/null || be_die "lease watch did not start: $(cat "$file.err")"
}
be_watch_stop() {
  [ -n "$BE_WATCH_PID" ] && { kill "$BE_WATCH_PID" 2>/dev/null || true; wait "$BE_WATCH_PID" 2>/dev/null || true; }
  [ -n "$BE_WATCH_READER" ] && { wait "$BE_WATCH_READER" 2>/dev/null || true; }
  BE_WATCH_PID='' BE_WATCH_READER=''
}

# be_wait_holder FILE ID AFTER_MS TIMEOUT_S: prints the arrival time (ms) of the first watch event
# at or after AFTER_MS whose holder is ID; returns 1 on timeout.
be_wait_holder() {
  local file=$1 id=$2 after=$3 deadline=$(( $(be_now_ms) + $4 * 1000 )) t
  while :; do
    t=$(awk -F'|' -v id="$id" -v a="$after" '$1 >= a && $3 == id { print $1; exit }' "$file")
    [ -n "$t" ] && { echo "$t"; return 0; }
    [ "$(be_now_ms)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}
# The holder in the latest watch event.
be_watch_holder() { tail -n 1 "$1" | awk -F'|' '{print $3}'; }

# be_proc_stats PID: "<VmRSS kB> <RssAnon kB> <utime+stime ticks>" (the process only; the
# electors do not fork).
be_proc_stats() {
  local pid=$1 rss anon ticks
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$pid/status" 2>/dev/null)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
  echo "${rss:-NA} ${anon:-NA} ${ticks:-NA}"
}

# be_requests ID: "total VERB:CODE=n ..." as counted by the elector itself. Ours: its
# leader_election_api_requests_total metric. Peers: their transport-level counters (SIGUSR1).
be_requests() {
  local id=$1 n
  case "${BE_KIND[$id]}" in
    ours)
      curl -s --max-time 2 "http://127.0.0.1:${BE_PORT[$id]}/metrics" |
        awk '/^leader_election_api_requests_total\{/ { match($0, /code="[^"]*"/); c=substr($0, RSTART+6, RLENGTH-7);
               match($0, /verb="[^"]*"/); v=substr($0, RSTART+6, RLENGTH-7); n=$NF+0; t+=n; s=s " " v ":" c "=" n }
             END { print t+0 s }' ;;
    clientgo|node)
      n=$(grep -c ' api requests total=' "$BE_RUN/$id.log")
      kill -USR1 "${BE_PID[$id]}" 2>/dev/null || { echo NA; return; }
      for _ in $(seq 1 50); do [ "$(grep -c ' api requests total=' "$BE_RUN/$id.log")" -gt "$n" ] && break; sleep 0.05; done
      grep ' api requests total=' "$BE_RUN/$id.log" | tail -n 1 | sed 's/.* api requests total=//' ;;
  esac
}
