#!/usr/bin/env bash
# Interop on the real control plane with the Node elector the seed documents
# (@codedependant/kubernetes-leader-election, bench/peers/node): it and ours contend for one
# Lease. The Node elector writes Leases client-go would misread: no leaseDurationSeconds, no
# leaseTransitions, millisecond timestamps, and a release that drops holder and renewTime.
# Checks, printing each:
#   - ours follows a Node-held Lease (sees the holder, does not claim it);
#   - kill -9 the Node leader: ours waits a full lease before taking over. With no
#     leaseDurationSeconds in the record, ours falls back to its own configured duration;
#     client-go would read 0 and take the Lease at once from a holder that may be alive;
#   - ours takes over from a graceful Node release at once (through the watch), or, when the
#     Node elector had already dropped the lease without releasing it, after a full lease;
#   - SIGTERM ours -> a Node follower takes the Lease ours released;
#   - the two never both lead (both sides' own view sampled every ~100 ms), and every holder
#     in the Lease watch is one of them or "" (a release).
# Needs KLE_CLUSTER_DIR and BUILD_DIR (tests/run-integration.sh sets both). Fails loudly if
# the Node peer cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BE_LEASE_S=6 BE_DEADLINE_S=4 BE_RETRY_S=1 BE_REQ_TIMEOUT_S=2
. bench/lib/electors.sh
command -v jq >/dev/null || be_die "jq is required"
be_need_ours
be_need_node
echo "node peer: $(be_version_node); ours: $BE_OURS_BIN"

LEASE=interop-node-lease
W="$BE_RUN/watch.log" S="$BE_RUN/samples.log"
SAMPLER_PID=
fail() { be_fail "$@"; }
trap 'be_cleanup "$LEASE" "$SAMPLER_PID"' EXIT
spec() { kadm get lease "$LEASE" -o json | jq -c '.spec'; }
# Every elector id that has run so far, for the sampler (it reads the files be_start writes).
sampler() {
  local id line n
  while :; do
    line="$(be_now_ms)" n=0
    for id in $(cat "$BE_RUN/ids" 2>/dev/null); do
      [ "$(be_is_leader "$id")" = true ] && { line+=" $id"; n=$((n + 1)); }
    done
    echo "$n $line"
    sleep 0.1
  done
}
start() { be_start "$1" "$2" "$LEASE"; echo "$2" >>"$BE_RUN/ids"; }
ours_follows() { # ID HOLDER
  local i
  for i in $(seq 1 100); do [ "$(be_seen_holder "$1")" = "$2" ] && break; sleep 0.1; done
  [ "$(be_seen_holder "$1")" = "$2" ] || fail "$1 does not see $2 as the holder (sees '$(be_seen_holder "$1")')"
  [ "$(be_is_leader "$1")" = false ] || fail "$1 claims leadership while $2 holds the lease"
}

kadm delete lease "$LEASE" --ignore-not-found >/dev/null
be_watch_start "$LEASE" "$W"
: >"$BE_RUN/ids"
sampler >"$S" & SAMPLER_PID=$!

# 1. The Node elector creates and holds the Lease; ours joins and follows.
start node node-a
be_wait_holder "$W" node-a 0 30 >/dev/null || fail "the Node elector did not acquire a fresh lease within 30s"
sleep $((BE_RETRY_S * 3))
node_spec=$(spec)
echo "lease as written by the Node elector: $node_spec"
start ours ours-a
ours_follows ours-a node-a
echo "ok: ours follows the Node-held lease"

# 2. kill -9 the Node leader: no release. Ours must wait a whole lease from the last renewal
#    it saw, although the record carries no leaseDurationSeconds.
sleep 2
t0=$(be_now_ms)
be_stop node-a KILL
last=$(awk -F'|' '$3 == "node-a" {t = $1} END {print t}' "$W")
t=$(be_wait_holder "$W" ours-a "$t0" $((BE_LEASE_S * 3))) || fail "ours did not take over within $((BE_LEASE_S * 3))s of kill -9"
echo "ok: kill -9 node-a -> ours holds the lease $((t - t0)) ms after the kill, $((t - last)) ms after node-a's last renewal"
# Ours counts from when it saw that renewal (a few ms after the watch here saw it).
[ $((t - last)) -ge $((BE_LEASE_S * 1000 - 200)) ] ||
  fail "ours took a duration-less lease $((t - last)) ms after its last renewal, before its own ${BE_LEASE_S}s lease ran out"
echo "ok: a record without leaseDurationSeconds was held for ours' own ${BE_LEASE_S}s lease, not treated as expired"

# 3. A Node follower; SIGTERM ours -> it takes the released lease.
start node node-b
sleep $((BE_RETRY_S * 3))
t0=$(be_now_ms)
be_stop ours-a TERM
t=$(be_wait_holder "$W" node-b "$t0" $((BE_LEASE_S * 3))) || fail "node-b did not take over within $((BE_LEASE_S * 3))s of SIGTERM to ours"
echo "ok: SIGTERM ours -> the Node elector holds the lease after $((t - t0)) ms"

# 4. Ours follows again; SIGTERM the Node leader. If it still leads it releases, and ours
#    takes over at once. The Node elector sometimes gives a lease up by itself a moment after
#    taking it over (its log says "lost" with no renewal; seen here), and then it has nothing
#    to release: ours must then wait a whole lease from its last write, as after a crash.
start ours ours-b
ours_follows ours-b node-b
sleep 1
node_b_led=$(be_is_leader node-b)
t0=$(be_now_ms)
be_stop node-b TERM
t=$(be_wait_holder "$W" ours-b "$t0" $((BE_LEASE_S * 3))) || fail "ours did not take over within $((BE_LEASE_S * 3))s of SIGTERM to node-b"
rel=$(awk -F'|' -v a="$t0" -v b="$t" '$1 >= a && $1 <= b && $3 == "" {print; exit}' "$W")
if [ -n "$rel" ]; then
  echo "ok: SIGTERM node-b released the lease ($rel); ours holds it $((t - t0)) ms after the SIGTERM"
  [ $((t - t0)) -lt $((BE_LEASE_S * 1000 / 2)) ] || fail "ours took $((t - t0)) ms to take a released lease (the watch should carry it at once)"
else
  [ "$node_b_led" = false ] || fail "node-b led when it got SIGTERM but wrote no release"
  last=$(awk -F'|' '$3 == "node-b" {t = $1} END {print t}' "$W")
  echo "ok: node-b had already given the lease up (its log: $(grep -cE ' node-b lost$' "$BE_RUN/node-b.log") 'lost'), so no release; ours took it $((t - last)) ms after node-b's last write"
  [ $((t - last)) -ge $((BE_LEASE_S * 1000 - 200)) ] || fail "ours took node-b's unreleased lease $((t - last)) ms after its last write, before the ${BE_LEASE_S}s lease ran out"
fi
for _ in $(seq 1 20); do [ "$(be_is_leader ours-b)" = true ] && break; sleep 0.1; done
[ "$(be_is_leader ours-b)" = true ] || fail "ours holds the lease but /leader says isLeader=$(be_is_leader ours-b)"
sleep $((BE_RETRY_S * 2))
echo "lease as written by ours after taking it from the Node elector: $(spec)"
kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
be_stop_all
sleep 0.5
be_watch_stop

# --- Never both lead.
n=$(wc -l <"$S")
both=$(awk '$1 > 1' "$S" | wc -l)
[ "$n" -ge 50 ] || fail "only $n samples taken"
[ "$both" -eq 0 ] || fail "$both of $n samples saw two leaders: $(awk '$1 > 1' "$S" | head -3)"
led=$(awk '$1 == 1 {print $3}' "$S" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
echo "ok: never two leaders in $n samples of every elector's own view (samples led:$led)"
bad=$(awk -F'|' '$3 != "" && $3 != "node-a" && $3 != "node-b" && $3 != "ours-a" && $3 != "ours-b"' "$W" | wc -l)
[ "$bad" -eq 0 ] || fail "the lease had $bad events with an unexpected holder"
echo "ok: $(wc -l <"$W") lease watch events, every holder is one of the four electors or \"\""
echo "PASS: interop with the Node elector $(be_version_node)"
