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
# Every wait below is on a condition with a generous bound, never a sleep that must be long
# enough, and every bound on a takeover is judged from the records' own timestamps (written
# by the electors from this host's clock), not from when a busy watcher process got to see
# them. wait_for SECONDS CMD...: polls CMD every 100 ms until it succeeds; 1 on timeout.
wait_for() {
  local deadline=$(($(be_now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(be_now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
# RFC 3339 (the apiserver's MicroTime) -> unix ms.
iso_ms() { date -u -d "$1" +%s%3N; }
# Field F (6 acquireTime, 7 renewTime) of the last watch event naming holder ID, before AT_MS.
last_field() { awk -F'|' -v id="$1" -v f="$2" -v b="${3:-99999999999999}" '$1 <= b && $3 == id {v = $f} END {print v}' "$W"; }
# Field F of the first watch event naming holder ID at or after AT_MS.
first_field() { awk -F'|' -v id="$1" -v f="$2" -v a="$3" '$1 >= a && $3 == id {print $f; exit}' "$W"; }
# An elector's own view. The Node runner's application stops leading when it starts stopping
# ("received SIGTERM, stopping"), before the package writes its release; whether the
# package's own "lost" comes before that release is not documented, and a view that lags the
# release would show a false overlap with ours taking over.
leads() {
  local id=$1 last
  case "$(cat "$BE_RUN/$id.kind" 2>/dev/null)" in
    node)
      be_alive "$id" || { echo false; return; }
      last=$(grep -E " $id (acquired|lost|received [A-Z]+, stopping.*)\$" "$BE_RUN/$id.log" 2>/dev/null | tail -n 1)
      [[ "$last" == *acquired ]] && echo true || echo false ;;
    *) be_is_leader "$id" ;;
  esac
}
# Every elector id that has run so far (the files be_start writes), each read twice per
# sample: an id counts as leading only if it led at both reads. Reads are sequential, so a
# single read of A then of B could straddle a handover from A to B; two ids that led at both
# of their reads, interleaved, really led at one instant. Lines: "n ms id...".
sampler() {
  local id ids line n
  declare -A first
  while :; do
    ids=$(cat "$BE_RUN/ids" 2>/dev/null)
    line="$(be_now_ms)" n=0
    for id in $ids; do first[$id]=$(leads "$id"); done
    for id in $ids; do
      [ "${first[$id]}" = true ] && [ "$(leads "$id")" = true ] && { line+=" $id"; n=$((n + 1)); }
    done
    echo "$n $line"
    sleep 0.1
  done
}
led_in() { awk -v id="$1" '$1 == 1 && $3 == id' "$S" | wc -l; }
led_at_least() { [ "$(led_in "$1")" -ge "$2" ]; }
start() { be_start "$1" "$2" "$LEASE"; echo "$2" >>"$BE_RUN/ids"; }
ours_follows() { # ID HOLDER
  sees() { [ "$(be_seen_holder "$1")" = "$2" ]; }
  wait_for 60 sees "$1" "$2" || fail "$1 does not see $2 as the holder (sees '$(be_seen_holder "$1")')"
  [ "$(be_is_leader "$1")" = false ] || fail "$1 claims leadership while $2 holds the lease"
}
events_of() { [ "$(awk -F'|' -v id="$1" '$3 == id' "$W" | wc -l)" -ge "$2" ]; }
# held_a_full_lease NAME OURS AFTER_MS: OURS took the lease (first record at/after AFTER_MS)
# no earlier than a full lease after NAME's last renewTime. Exact, not a timing guess: ours
# writes acquireTime from its clock no sooner than its own lease duration after it saw that
# renewal, which NAME wrote (from the same clock) before it sent it.
held_a_full_lease() {
  local name=$1 ours=$2 after=$3 renew acq
  renew=$(last_field "$name" 7 "$after") acq=$(first_field "$ours" 6 "$after")
  [[ -n $renew && -n $acq ]] || fail "no renewTime of $name ('$renew') or acquireTime of $ours ('$acq') in the watch"
  HELD_MS=$(($(iso_ms "$acq") - $(iso_ms "$renew")))
}

kadm delete lease "$LEASE" --ignore-not-found >/dev/null
be_watch_start "$LEASE" "$W"
: >"$BE_RUN/ids"
sampler >"$S" & SAMPLER_PID=$!

# 1. The Node elector creates and holds the Lease; ours joins and follows.
start node node-a
be_wait_holder "$W" node-a 0 30 >/dev/null || fail "the Node elector did not acquire a fresh lease within 30s"
wait_for 60 events_of node-a 3 || fail "the Node elector did not renew the lease"
node_spec=$(spec)
echo "lease as written by the Node elector: $node_spec"
start ours ours-a
ours_follows ours-a node-a
echo "ok: ours follows the Node-held lease"

# 2. kill -9 the Node leader: no release. Ours must wait a whole lease from the last renewal
#    it saw, although the record carries no leaseDurationSeconds.
sleep 2
wait_for 60 led_at_least node-a 3 || fail "the sampler saw node-a lead in only $(led_in node-a) samples"
t0=$(be_now_ms)
be_stop node-a KILL
t=$(be_wait_holder "$W" ours-a "$t0" $((BE_LEASE_S * 3))) || fail "ours did not take over within $((BE_LEASE_S * 3))s of kill -9"
last=$(awk -F'|' -v b="$t" '$1 <= b && $3 == "node-a" {t = $1} END {print t}' "$W")
held_a_full_lease node-a ours-a "$t"
echo "ok: kill -9 node-a -> ours holds the lease $((t - t0)) ms after the kill; its acquireTime is $HELD_MS ms after node-a's last renewTime (watch arrivals: $((t - last)) ms)"
[ "$HELD_MS" -ge $((BE_LEASE_S * 1000 - 50)) ] ||
  fail "ours took a duration-less lease $HELD_MS ms after its last renewal, before its own ${BE_LEASE_S}s lease ran out"
echo "ok: a record without leaseDurationSeconds was held for ours' own ${BE_LEASE_S}s lease, not treated as expired"

# 3. A Node follower; SIGTERM ours -> it takes the released lease.
start node node-b
sleep $((BE_RETRY_S * 3))
wait_for 60 led_at_least ours-a 3 || fail "the sampler saw ours-a lead in only $(led_in ours-a) samples"
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
held_a_full_lease node-b ours-b "$t"
if [ -n "$rel" ]; then
  echo "ok: SIGTERM node-b released the lease ($rel); ours holds it $((t - t0)) ms after the SIGTERM, its acquireTime $HELD_MS ms after node-b's last renewTime"
  # At once means on the release, not when node-b's term would have run out: ours saw the
  # release (it logs the empty holder) and wrote its acquireTime inside that term.
  grep -q '"msg":"new leader observed".*"holder":""' "$BE_RUN/ours-b.log" || fail "ours-b never saw node-b's release"
  [ "$HELD_MS" -lt $((BE_LEASE_S * 1000)) ] ||
    fail "ours took a released lease only $HELD_MS ms after node-b's last renewal, when its term was over anyway (the watch should carry the release at once)"
else
  [ "$node_b_led" = false ] || fail "node-b led when it got SIGTERM but wrote no release"
  echo "ok: node-b had already given the lease up (its log: $(grep -cE ' node-b lost$' "$BE_RUN/node-b.log") 'lost'), so no release; ours' acquireTime is $HELD_MS ms after node-b's last renewTime"
  [ "$HELD_MS" -ge $((BE_LEASE_S * 1000 - 50)) ] || fail "ours took node-b's unreleased lease $HELD_MS ms after its last renewal, before the ${BE_LEASE_S}s lease ran out"
fi
ours_b_leads() { [ "$(be_is_leader ours-b)" = true ]; }
wait_for 30 ours_b_leads || fail "ours holds the lease but /leader says isLeader=$(be_is_leader ours-b)"
wait_for 60 led_at_least ours-b 3 || fail "the sampler saw ours-b lead in only $(led_in ours-b) samples"
echo "lease as written by ours after taking it from the Node elector: $(spec)"

# 5. An operator's hint (docs/HANDOVER.md) naming a pod that does not exist, with a Node
#    follower beside ours-b: ours-b hands over (steps down and releases naming it); the Node
#    elector ignores the hint and may take the free lease at once, ours-b only after its 2 s
#    grace. Either way someone holds it again within the grace plus a lease, never two leaders.
start node node-c
sleep $((BE_RETRY_S * 3))
t0=$(be_now_ms)
kadm annotate lease "$LEASE" kube-leader-elector.io/preferred-holder=no-such-pod --overwrite >/dev/null
rel=""
for _ in $(seq 1 100); do
  rel=$(awk -F'|' -v a="$t0" '$1 >= a && $3 == "" {print; exit}' "$W")
  [ -n "$rel" ] && break
  sleep 0.1
done
[ -n "$rel" ] || fail "ours-b did not hand over (no release) within 10 s of the preferred-holder hint"
t_rel=${rel%%|*}
new_holder() { awk -F'|' -v a="$t_rel" '$1 >= a && $3 != "" {print $3; exit}' "$W"; }
held_again() { [ -n "$(new_holder)" ]; }
wait_for $((BE_LEASE_S * 3)) held_again || fail "nobody took the lease within $((BE_LEASE_S * 3))s of a handover to a pod that does not exist"
echo "ok: hint naming a missing pod -> ours-b released ($rel); $(new_holder) took it $(( $(awk -F'|' -v a="$t_rel" '$1 >= a && $3 != "" {print $1; exit}' "$W") - t_rel )) ms later"
kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
be_stop_all
sleep 0.5
be_watch_stop

# --- Never both lead. The sampler covered node-a's, ours-a's and ours-b's tenures with at
# least 3 samples each (waited for above; a count of all samples would depend on how fast a
# busy machine runs the sampler).
n=$(wc -l <"$S")
both=$(awk '$1 > 1' "$S" | wc -l)
[ "$both" -eq 0 ] || fail "$both of $n samples saw two leaders: $(awk '$1 > 1' "$S" | head -3)"
led=$(awk '$1 == 1 {print $3}' "$S" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
echo "ok: never two leaders in $n samples of every elector's own view (samples led:$led)"
bad=$(awk -F'|' '$3 != "" && $3 != "node-a" && $3 != "node-b" && $3 != "node-c" && $3 != "ours-a" && $3 != "ours-b"' "$W" | wc -l)
[ "$bad" -eq 0 ] || fail "the lease had $bad events with an unexpected holder"
echo "ok: $(wc -l <"$W") lease watch events, every holder is one of the five electors or \"\""
echo "PASS: interop with the Node elector $(be_version_node)"
