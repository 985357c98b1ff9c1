#!/usr/bin/env bash
# Interop on the real control plane: one client-go elector (bench/peers/clientgo, client-go's
# tools/leaderelection with ReleaseOnCancel) and one of ours contend for one Lease.
# Checks, printing each:
#   - they never both lead: both sides' own view is sampled every ~100 ms (ours: /leader
#     isLeader; client-go: its started/stopped leading log), and every holder in the Lease watch
#     is one of the two (or "" after a release);
#   - SIGTERM ours -> client-go takes the Lease; restart ours, SIGTERM client-go -> ours takes it;
#   - the Lease as written by ours has the same spec field set as client-go's, MicroTimes with
#     6 fractional digits, the configured leaseDurationSeconds, a release record like
#     client-go's (holder "", leaseDurationSeconds 1), and leaseTransitions +1 per new holder.
# Needs KLE_CLUSTER_DIR and BUILD_DIR (tests/run-integration.sh sets both). Fails loudly if
# the client-go peer cannot be built.
set -euo pipefail
cd "$(dirname "$0")/../.."
BE_LEASE_S=6 BE_DEADLINE_S=4 BE_RETRY_S=1 BE_REQ_TIMEOUT_S=2
. bench/lib/electors.sh
command -v jq >/dev/null || be_die "jq is required"
be_need_ours
be_need_clientgo
echo "client-go peer: $BE_CG_BIN ($(be_version_clientgo)); ours: $BE_OURS_BIN"

LEASE=interop-lease
OURS=kle-interop-ours CG=kle-interop-clientgo
W="$BE_RUN/watch.log" S="$BE_RUN/samples.log"
SAMPLER_PID=
fail() { be_fail "$@"; }
trap 'be_cleanup "$LEASE" "$SAMPLER_PID"' EXIT
spec() { kadm get lease "$LEASE" -o json | jq -c '.spec'; }
keys() { jq -c 'keys' <<<"$1"; }
# Every wait below is on a condition with a generous bound, never a sleep that must be long
# enough: this runs on busy 2-core machines.
# wait_for SECONDS CMD...: polls CMD every 100 ms until it succeeds; 1 on timeout.
wait_for() {
  local deadline=$(($(be_now_ms) + $1 * 1000))
  shift
  until "$@"; do
    [ "$(be_now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
logged() { grep -q "$2" "$BE_RUN/$1.log"; }
# The Lease as written by ID after at least one renewal (renewTime moved past acquireTime).
renewed_by() { spec | jq -e --arg h "$1" '.holderIdentity == $h and .renewTime != .acquireTime' >/dev/null; }
# Sampler lines "ms ours client-go-before client-go-after"; counts those matching an awk test.
samples() { awk "$1" "$S" | wc -l; }
at_least() { [ "$(samples "$1")" -ge "$2" ]; }

kadm delete lease "$LEASE" --ignore-not-found >/dev/null
be_watch_start "$LEASE" "$W"

# client-go's own view. Its application stops leading when the elector's context is
# cancelled: the peer's SIGTERM handler logs "received ..., releasing" and cancels.
# OnStoppedLeading ("stopped leading") runs only after the release has been written, when
# ours may rightly have taken over already; judged by that line alone, a busy machine that
# delays the peer between the two would show a false overlap.
cg_leads() {
  local last
  be_alive "$CG" || { echo false; return; }
  last=$(grep -E " $CG (started leading|stopped leading|received .*, releasing)\$" "$BE_RUN/$CG.log" 2>/dev/null | tail -n 1)
  [[ "$last" == *"started leading" ]] && echo true || echo false
}
# Both sides' view, sampled: client-go before and after ours, so an overlap is only reported
# when client-go led across the instant ours said it led.
sampler() {
  local a b c
  while :; do
    a=$(cg_leads); b=$(be_is_leader "$OURS"); c=$(cg_leads)
    echo "$(be_now_ms) $b $a $c"
    sleep 0.1
  done
}

# 1. Ours first, so it creates the Lease; then client-go joins as a follower.
be_start ours "$OURS" "$LEASE"
t=$(be_wait_holder "$W" "$OURS" 0 30) || fail "ours did not acquire a fresh lease within 30s"
echo "ok: ours acquired the fresh lease after $((t - BE_T0[$OURS])) ms"
be_start clientgo "$CG" "$LEASE"
sampler >"$S" & SAMPLER_PID=$!
wait_for 60 logged "$CG" " $CG new leader $OURS\$" || fail "client-go does not see ours as leader"
echo "ok: client-go follows ours ('new leader $OURS')"
# Ours renewing, with both views sampled a few times while it leads.
wait_for 60 renewed_by "$OURS" || fail "ours did not renew the lease: $(spec)"
# shellcheck disable=SC2016  # awk conditions: $2 is a field of the sample line, not a shell variable
wait_for 60 at_least '$2 == "true"' 3 || fail "the sampler saw ours lead in only $(samples '$2 == "true"') samples"
ours_spec=$(spec)
echo "lease as written by ours (renewing): $ours_spec"
[ "$(jq -r .holderIdentity <<<"$ours_spec")" = "$OURS" ] || fail "holder is not ours"

# 2. SIGTERM ours -> client-go takes over.
t0=$(be_now_ms)
be_stop "$OURS" TERM
t=$(be_wait_holder "$W" "$CG" "$t0" $((BE_LEASE_S * 3))) || fail "client-go did not take over within $((BE_LEASE_S * 3))s of SIGTERM to ours"
echo "ok: SIGTERM ours -> client-go holds the lease after $((t - t0)) ms"
# Read only now: the watch delivers events in order, so a release before client-go's
# takeover is in the file by the time the takeover is; right after the SIGTERM it may not be.
ours_release=$(awk -F'|' -v a="$t0" -v b="$t" '$1 >= a && $1 <= b && $3 == "" {print; exit}' "$W")
[ -n "$ours_release" ] || fail "ours did not write a release (holder \"\") before client-go took over"
# client-go logs 'started leading' from a goroutine after its write returned; the watch may
# show the new holder first.
wait_for 30 logged "$CG" " $CG started leading\$" || fail "client-go holds the lease but did not log 'started leading'"
wait_for 60 renewed_by "$CG" || fail "client-go did not renew the lease: $(spec)"
# shellcheck disable=SC2016  # awk conditions: $3 and $4 are fields of the sample line
wait_for 60 at_least '$3 == "true" && $4 == "true"' 3 ||
  fail "the sampler saw client-go lead in only $(samples '$3 == "true" && $4 == "true"') samples"
cg_spec=$(spec)
echo "lease as written by client-go (renewing): $cg_spec"

# 3. Restart ours as a follower, then SIGTERM client-go -> ours takes over.
be_start ours "$OURS" "$LEASE"
sees_cg() { [ "$(be_seen_holder "$OURS")" = "$CG" ]; }
wait_for 60 sees_cg || fail "restarted ours does not see client-go as holder (sees '$(be_seen_holder "$OURS")')"
[ "$(be_is_leader "$OURS")" = false ] || fail "restarted ours claims leadership while client-go holds the lease"
echo "ok: restarted ours follows client-go"
# 3b. A preferred-holder hint (docs/HANDOVER.md) naming a pod that does not exist, set while
#     client-go leads: client-go ignores it and keeps the lease; ours keeps following. After
#     client-go's release ours holds back at most its handover grace (2 s), then takes it and
#     drops the hint.
HINT=kube-leader-elector.io/preferred-holder
kadm annotate lease "$LEASE" "$HINT=no-such-pod" --overwrite >/dev/null
sleep 2
[ "$(jq -r .holderIdentity <<<"$(spec)")" = "$CG" ] || fail "client-go lost the lease after a preferred-holder hint: $(spec)"
[ "$(be_is_leader "$OURS")" = false ] || fail "ours claims leadership while client-go holds the hinted lease"
echo "ok: a preferred-holder hint leaves client-go the holder and ours a follower"
sleep 1
t0=$(be_now_ms)
be_stop "$CG" TERM
t=$(be_wait_holder "$W" "$OURS" "$t0" $((BE_LEASE_S * 3))) || fail "ours did not take over within $((BE_LEASE_S * 3))s of SIGTERM to client-go"
echo "ok: SIGTERM client-go -> ours holds the lease after $((t - t0)) ms"
t_ours_back=$t
cg_release=$(awk -F'|' -v a="$t0" -v b="$t" '$1 >= a && $1 <= b && $3 == "" {print; exit}' "$W")
[ -n "$cg_release" ] || fail "client-go did not write a release before ours took over"
hint_left=$(kadm get lease "$LEASE" -o json | jq -r --arg k "$HINT" '.metadata.annotations[$k] // ""')
[ -z "$hint_left" ] || fail "ours took the lease but left the hint '$hint_left' (it has expired unserved)"
echo "ok: the unserved hint delayed ours by at most the grace and was dropped by its acquisition"
ours_leads() { [ "$(be_is_leader "$OURS")" = true ]; }
wait_for 30 ours_leads || fail "ours holds the lease but /leader says isLeader=$(be_is_leader "$OURS")"
wait_for 60 renewed_by "$OURS" || fail "ours did not renew the lease after taking it: $(spec)"
wait_for 60 at_least "\$1 > $t_ours_back && \$2 == \"true\"" 3 ||
  fail "the sampler saw ours lead in only $(samples "\$1 > $t_ours_back && \$2 == \"true\"") samples after it retook the lease (stale view?)"
ours_spec2=$(spec)
echo "lease as written by ours after takeover: $ours_spec2"
kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
be_stop "$OURS" TERM
sleep 0.5
be_watch_stop

# --- Never both lead. The sampler covered each tenure: ours, client-go and ours again were
# each seen leading in at least 3 samples (waited for above; a count of all samples would
# depend on how fast a busy machine runs the sampler).
n=$(wc -l <"$S")
both=$(awk '$2 == "true" && $3 == "true" && $4 == "true"' "$S" | wc -l)
[ "$both" -eq 0 ] || fail "$both of $n samples saw both lead: $(awk '$2=="true"&&$3=="true"&&$4=="true"' "$S" | head -3)"
after=$(awk -v t="$t_ours_back" '$1 > t && $2 == "true"' "$S" | wc -l)
[ "$after" -ge 3 ] || fail "the sampler saw ours lead in only $after samples after it retook the lease (stale view?)"
echo "ok: never both leaders in $n samples of both views (ours led in $(awk '$2=="true"' "$S" | wc -l), $after of them after retaking it; client-go in $(awk '$3=="true"' "$S" | wc -l))"
bad=$(awk -F'|' -v a="$OURS" -v b="$CG" '$3 != a && $3 != b && $3 != ""' "$W" | wc -l)
[ "$bad" -eq 0 ] || fail "the lease had $bad events with an unexpected holder"
echo "ok: $(wc -l <"$W") lease watch events, every holder is ours, client-go or \"\""

# --- Same field set and formats.
[ "$(keys "$ours_spec")" = "$(keys "$cg_spec")" ] || fail "field sets differ: ours $(keys "$ours_spec") vs client-go $(keys "$cg_spec")"
[ "$(keys "$ours_spec2")" = "$(keys "$cg_spec")" ] || fail "field sets differ after takeover: ours $(keys "$ours_spec2") vs client-go $(keys "$cg_spec")"
echo "ok: same spec fields as client-go: $(keys "$cg_spec")"
re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
for s in "$ours_spec" "$ours_spec2" "$cg_spec"; do
  for f in acquireTime renewTime; do
    v=$(jq -r ".$f" <<<"$s"); [[ "$v" =~ $re ]] || fail "$f '$v' is not a MicroTime with 6 fractional digits"
  done
  [ "$(jq -r '.leaseDurationSeconds' <<<"$s")" = "$BE_LEASE_S" ] || fail "leaseDurationSeconds $(jq .leaseDurationSeconds <<<"$s") != $BE_LEASE_S in $s"
  [[ "$(jq -r '.leaseTransitions' <<<"$s")" =~ ^[0-9]+$ ]] || fail "leaseTransitions missing or not an integer in $s"
done
echo "ok: acquireTime/renewTime are RFC 3339 UTC with 6 fractional digits; leaseDurationSeconds=$BE_LEASE_S; leaseTransitions an integer"
# The apiserver re-serializes MicroTime, so 6 digits on read only prove the value parsed. What
# ours sent shows in the precision: microseconds from ours end in 000 only by chance.
awk -F'|' -v a="$OURS" '$3 == a {print $6; print $7}' "$W" | sort -u >"$BE_RUN/ours-times"
awk -F'|' -v a="$CG" '$3 == a {print $6; print $7}' "$W" | sort -u >"$BE_RUN/cg-times"
ours_ms=$(grep -c '000Z$' "$BE_RUN/ours-times" || true) ours_n=$(wc -l <"$BE_RUN/ours-times")
cg_ms=$(grep -c '000Z$' "$BE_RUN/cg-times" || true) cg_n=$(wc -l <"$BE_RUN/cg-times")
echo "info: timestamps ending in 000 (millisecond precision): ours $ours_ms of $ours_n, client-go $cg_ms of $cg_n"
[ "$ours_n" -ge 3 ] && [ "$ours_ms" -gt $((ours_n / 2)) ] &&
  fail "ours writes MicroTimes with millisecond precision ($ours_ms of $ours_n end in 000; client-go: $cg_ms of $cg_n): $(tr '\n' ' ' <"$BE_RUN/ours-times")"
echo "ok: ours writes microsecond precision, like client-go"

# Release records: ours and client-go both write holder "" and leaseDurationSeconds 1.
for r in "ours:$ours_release" "client-go:$cg_release"; do
  IFS='|' read -r _ _ h _ d _ <<<"${r#*:}"
  [[ -z $h && $d == 1 ]] || fail "${r%%:*} release record is not holder \"\" + leaseDurationSeconds 1: ${r#*:}"
done
echo "ok: both release with holder \"\" and leaseDurationSeconds 1"

# --- leaseTransitions: +1 whenever a new non-empty holder differs from the previous holder,
# unchanged otherwise (renewals and releases).
awk -F'|' '
  NR == 1 { ph = $3; pt = $4; next }
  { d = $4 - pt
    want = ($3 != "" && $3 != ph) ? 1 : 0
    if (d != want) { printf "bad transition: %s -> %s, leaseTransitions %s -> %s (want +%d)\n", ph, $3, pt, $4, want; bad = 1 }
    if ($3 != ph && $3 != "") changes++
    ph = $3; pt = $4 }
  END { printf "changes=%d last=%s\n", changes, pt; exit bad }' "$W" >"$BE_RUN/transitions" ||
  fail "$(cat "$BE_RUN/transitions")"
echo "ok: leaseTransitions +1 per new holder ($(cat "$BE_RUN/transitions")); first holder (creation) starts at $(head -n 1 "$W" | cut -d'|' -f4)"
echo "PASS: interop with client-go $(be_version_clientgo)"
