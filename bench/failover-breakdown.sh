#!/usr/bin/env bash
# Crash failover, where the time goes (issue 14, item 2). Three of our electors share one
# Lease on the real control plane; the leader is killed with SIGKILL K times (a new replica
# replaces it each time, so three run again). Every time is counted from R, the dead
# leader's last renewTime (the µs its last successful write carries; same host, same clock):
#   seen     the watch (kubectl get leases -w, stamped on arrival) delivers that renewal: the
#            PUT's server leg + the watch fan-out. A follower's expiry clock starts here
#            (it judges expiry from when it saw the record change, not from renewTime).
#   expired  the new leader decides the lease is expired and sends its takeover write
#            (its debug line "trying to take the lease"), minus the lease duration.
#   sent     the takeover record's acquireTime (the new leader's wall clock as it built the
#            write), minus the lease duration.
#   confirm  the new leader logs "leadership acquired" (the write's answer), minus lease.
#   watch    the watch delivers the new holder, minus the lease duration.
#   quiet    the new leader's watch went quiet (its holder stopped renewing), from R: where it
#            warms its connection for the takeover (LeaseLock::warm), well before R + lease.
#   late     expired - seen: how late the follower's expiry timer fired after its deadline.
#   rtt      confirm - sent: the takeover write's round trip.
#   idle     seconds since the new leader started (a follower's last request other than the
#            watch is its first GET): over the transport's max_idle_time (60 s) its pooled
#            connection has expired and the takeover write opens a fresh TCP + TLS connection.
# The primary figure is confirm (R to confirmed takeover, minus the lease): the goal is
# p99 <= 100 ms. Log timestamps are ms; renewTime/acquireTime are µs.
#   bench/failover-breakdown.sh [--kills K] [--settle S] [--lease S] [--deadline S] [--retry S] [BUILD_DIR]
# Defaults: K=20, lease 5s / renew deadline 3s / retry 1s (request timeout 2s), BUILD_DIR
# build/dev (KLE_BIN overrides the binary). Before each kill the replicas settle for S
# seconds (default: 1 s + a random part of the retry period); --settle 65 makes every
# takeover a follower idle for longer than the connection pool keeps a connection.
# Uses the cluster in $KLE_CLUSTER_DIR if one is up, else starts (and stops) one.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K=20 BUILD="$repo/build/dev" SETTLE=
# Read by bench/lib/electors.sh (sourced below).
BE_LEASE_S=5 BE_DEADLINE_S=3 BE_RETRY_S=1 BE_REQ_TIMEOUT_S=2
# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
CLI_VALUE=([--kills]=K [--settle]=SETTLE [--lease]=BE_LEASE_S [--deadline]=BE_DEADLINE_S [--retry]=BE_RETRY_S)
cli_parse failover-breakdown 2,29 "$@"
[ "${#CLI_ARGS[@]}" -le 1 ] || { echo "failover-breakdown: one BUILD_DIR at most, got ${CLI_ARGS[*]}" >&2; exit 2; }
BUILD="${CLI_ARGS[0]:-$BUILD}"
BUILD_DIR="$(cd "$BUILD" 2>/dev/null && pwd)" || { echo "failover-breakdown: no build dir '$BUILD'" >&2; exit 2; }
export BUILD_DIR
for t in jq curl python3; do command -v "$t" >/dev/null || { echo "failover-breakdown: $t is required" >&2; exit 1; }; done
log() { printf '[failover %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cluster_ensure failover
# Debug level, for "trying to take the lease"; JSON lines with ms timestamps.
export LEADER_ELECTOR_LOG_LEVEL=debug LEADER_ELECTOR_LOG_FORMAT=json
# shellcheck source=bench/lib/electors.sh
. "$repo/bench/lib/electors.sh"
be_need_ours
LEASE=kle-failover W="$BE_RUN/watch.log" KILLS="$BE_RUN/kills"
finish() {
  local rc=$?
  be_stop_all; be_watch_stop
  kadm delete lease "$LEASE" --ignore-not-found >/dev/null 2>&1 || true
  cluster_release
  log "logs in $BE_RUN"
  exit "$rc"
}
trap finish EXIT

seq_n=0
start_one() { seq_n=$((seq_n + 1)); be_start ours "r$seq_n" "$LEASE"; echo "r$seq_n ${BE_T0[r$seq_n]}" >>"$BE_RUN/starts"; }
sees() { [ "$(be_seen_holder "$1")" = "$2" ]; }
wait_followers() {  # every live replica but the leader shows the leader as holder (max 15 s)
  local leader=$1 id i ok
  for ((i = 0; i < 150; i++)); do
    ok=true
    for id in "${!BE_PID[@]}"; do [ "$id" = "$leader" ] || sees "$id" "$leader" || ok=false; done
    $ok && return 0
    sleep 0.1
  done
  return 1
}

kadm delete lease "$LEASE" --ignore-not-found >/dev/null
be_watch_start "$LEASE" "$W"
start_one
leader=r1
be_wait_holder "$W" "$leader" "${BE_T0[$leader]}" $((BE_LEASE_S * 3)) >/dev/null || be_die "r1 did not acquire"
start_one; start_one
wait_followers "$leader" || be_die "followers do not see $leader"
log "lease ${BE_LEASE_S}s, renew deadline ${BE_DEADLINE_S}s, retry ${BE_RETRY_S}s; $K kills; binary $BE_OURS_BIN; logs $BE_RUN"
: >"$KILLS"
for ((k = 1; k <= K; k++)); do
  # A random point in the renew cycle, so the kill does not always follow a renewal closely.
  sleep "${SETTLE:-$(awk -v s="$RANDOM" -v r="$BE_RETRY_S" 'BEGIN { printf "%.3f", 1 + (s % 1000) / 1000 * r }')}"
  t0=$(be_now_ms)
  be_stop "$leader" KILL
  new=''
  for ((i = 0; i < BE_LEASE_S * 60; i++)); do
    new=$(awk -F'|' -v a="$t0" -v o="$leader" '$1 >= a && $3 != "" && $3 != o { print $3; exit }' "$W")
    [ -n "$new" ] && break
    sleep 0.05
  done
  [ -n "$new" ] || be_die "kill $k: nobody took the lease from $leader within $((BE_LEASE_S * 3))s"
  sleep 0.3  # the winner's "leadership acquired" line reaches its log
  echo "$k $leader $new $t0" >>"$KILLS"
  log "kill $k/$K: $leader -> $new"
  leader=$new
  start_one
  wait_followers "$leader" || log "warn: not every follower sees $leader"
done

# One row per kill, then p50/p99/max per column (nearest rank).
python3 - "$W" "$KILLS" "$BE_RUN" "$BE_LEASE_S" <<'PY'
import json, sys, datetime as dt
watch, kills, run, lease_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
starts = dict((l.split()[0], int(l.split()[1])) for l in open(f"{run}/starts"))
lease = lease_s * 1000.0

def micro(s):  # RFC 3339 with µs, "Z": epoch ms as float
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp() * 1000

events = []  # (arrival ms, holder, acquireTime ms, renewTime ms)
for line in open(watch):
    f = line.rstrip("\n").split("|")
    if len(f) < 7 or not f[6]:
        continue
    events.append((int(f[0]), f[2], micro(f[5]) if f[5] else None, micro(f[6])))

def log_ms(ident, msg, after):
    for line in open(f"{run}/{ident}.log"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("msg") == msg:
            t = micro(j["ts"].replace("Z", "000Z"))
            if t >= after:
                return t
    return None

cols = ["seen", "quiet", "expired", "sent", "confirm", "watch", "late", "rtt", "idle"]
rows = []
print("kill  dead->new     renewTime(R)              " + " ".join(f"{c:>8}" for c in cols))
for line in open(kills):
    k, old, new, t0 = line.split()
    t0 = int(t0)
    last = [e for e in events if e[1] == old and e[0] < t0 + lease]
    took = [e for e in events if e[1] == new and e[0] >= t0]
    if not last or not took:
        print(f"{k:>4}  {old}->{new}: missing watch events"); continue
    arrival, _, _, r = last[-1]
    t_new, _, acquire, _ = took[0]
    tried = log_ms(new, "trying to take the lease", t0)
    confirmed = log_ms(new, "leadership acquired", t0)
    quiet = log_ms(new, "lease watch quiet while the lease is held; watching again", t0)
    v = {"seen": arrival - r,
         "quiet": quiet - r if quiet and quiet < (confirmed or quiet + 1) else None,
         "expired": tried - r - lease if tried else None,
         "sent": acquire - r - lease if acquire else None,
         "confirm": confirmed - r - lease if confirmed else None,
         "watch": t_new - r - lease}
    v["late"] = v["expired"] - v["seen"] if v["expired"] is not None else None
    v["rtt"] = confirmed - acquire if confirmed and acquire else None
    v["idle"] = (t0 - starts[new]) / 1000
    rows.append(v)
    stamp = dt.datetime.fromtimestamp(r / 1000, dt.timezone.utc).strftime("%H:%M:%S.%f")
    print(f"{k:>4}  {old:>4}->{new:<6} {stamp:<24} " +
          " ".join(f"{v[c]:8.1f}" if v[c] is not None else f"{'-':>8}" for c in cols))

def rank(xs, q):
    xs = sorted(xs)
    return xs[max(1, -(-q * len(xs) // 100)) - 1]

print(f"\nms; seen from R; expired/sent/confirm/watch from R + lease ({lease_s}s); n={len(rows)}")
for name, q in (("p50", 50), ("p99", 99), ("max", 100)):
    out = []
    for c in cols:
        xs = [r[c] for r in rows if r[c] is not None]
        out.append(f"{rank(xs, q):8.1f}" if xs else f"{'-':>8}")
    print(f"{name:>4}  {'':<42}" + " ".join(out))
# The takeover write's round trip by the winner's age: past max_idle_time (60 s) a pool
# without a warmed connection must open a fresh TCP + TLS connection for it.
for label, pick in (("winner idle <= 60 s", lambda r: r["idle"] <= 60), ("winner idle > 60 s", lambda r: r["idle"] > 60)):
    xs = [r["rtt"] for r in rows if pick(r) and r["rtt"] is not None]
    cs = [r["confirm"] for r in rows if pick(r) and r["confirm"] is not None]
    if xs:
        print(f"{label}: n={len(xs)}  rtt p50 {rank(xs, 50):.1f} max {max(xs):.1f}  confirm p50 {rank(cs, 50):.1f} max {max(cs):.1f}")
PY
