#!/usr/bin/env bash
# End-to-end on the real control plane (issue 11, item 5): the fencing epoch in the workload's
# hands. Two controllers run examples/fenced-cmd/fenced-writer.sh as `-- CMD` against one
# shared store. Checks that CMD gets KLE_EPOCH (= the Lease's leaseTransitions of its term) and
# KLE_IDENTITY, that /leader says the same epoch on the leader and null on the follower, and
# that fencing works: the leader is paused (controller and CMD, SIGSTOP), the follower takes
# over and writes with the next epoch, then only the old CMD is resumed, and its next write
# is refused (exit 75). The store never accepts an older epoch after a newer one.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KLE_APP=kle-fence
. tests/e2e/lib/controllers.sh

store="$KLE_RUN_DIR/store"
export FENCED_INTERVAL=0.3
writer="$PWD/examples/fenced-cmd/fenced-writer.sh"
[ -x "$writer" ] || { echo "FAIL: $writer is missing or not executable" >&2; exit 1; }
stopped=()
fail() { echo "FAIL: $*" >&2; echo "--- store:" >&2; tail -n 20 "$store/writes" >&2 || true
  echo "--- replica logs:" >&2; tail -n 20 "$KLE_RUN_DIR"/replica-*.log >&2; exit 1; }
cleanup() {
  local p
  for p in "${stopped[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  kle_stop_all
  kle_delete_pods
}
trap cleanup EXIT

kle_create_pods 2
kle_start 0 -- "$writer" "$store"
kle_start 1 -- "$writer" "$store"

leader_writes() {
  local h n
  h=$(kle_holder)
  n=$(grep -c "identity=$h " "$store/writes" 2>/dev/null || true)
  [ -n "$h" ] && [ "${n:-0}" -ge 2 ]
}
wait_until 60 leader_writes || fail "no leader writing to the store: holder='$(kle_holder)'"
leader=$(kle_holder)
epoch=$(kle_transitions)
li=${leader##*-}
fi_=$((1 - li))
follower="$KLE_APP-$fi_"
last=$(grep "identity=$leader " "$store/writes" | tail -n 1)
[[ "$last" == "epoch=$epoch identity=$leader "* ]] ||
  fail "CMD wrote '$last', want epoch=$epoch (the Lease's leaseTransitions) identity=$leader"
grep -q "fenced-writer: leading with epoch $epoch as $leader (lease $KLE_LEASE in $KLE_NAMESPACE)" \
  "$KLE_RUN_DIR/replica-$li.log" || fail "CMD did not report KLE_EPOCH/KLE_IDENTITY/KLE_LEASE/KLE_NAMESPACE"
echo "ok: CMD of $leader writes with KLE_EPOCH=$epoch = leaseTransitions, KLE_IDENTITY=$leader"

doc_epoch() { curl -s --max-time 2 "http://127.0.0.1:${KLE_PORT[$1]}/leader" | jq -c '.epoch'; }
[ "$(doc_epoch "$li")" = "$epoch" ] || fail "/leader of the leader says epoch $(doc_epoch "$li"), want $epoch"
[ "$(doc_epoch "$fi_")" = null ] || fail "/leader of the follower says epoch $(doc_epoch "$fi_"), want null"
echo "ok: /leader: epoch $epoch on the leader, null on the follower"

# Pause the leader: the controller first (so it cannot react), then its CMD.
ctl=${KLE_PID[$li]}
cmd=$(pgrep -P "$ctl" -f fenced-writer.sh) || fail "no CMD child of the leader's controller $ctl"
kill -STOP "$ctl"; stopped+=("$ctl")
kill -STOP "$cmd"; stopped+=("$cmd")
new_epoch_written() { grep -q "^epoch=$((epoch + 1)) identity=$follower " "$store/writes"; }
wait_until 40 new_epoch_written || fail "the follower did not take over and write with epoch $((epoch + 1))"
[ "$(kle_holder)" = "$follower" ] || fail "holder is '$(kle_holder)', want $follower"
echo "ok: $follower took over from the paused $leader and writes with epoch $((epoch + 1))"

# Resume only the old CMD: its controller, still paused, cannot stop it. It believes it leads.
kill -CONT "$cmd"
cmd_gone() { local s; s=$(awk '{print $3}' "/proc/$cmd/stat" 2>/dev/null) || return 0; [ -z "$s" ] || [ "$s" = Z ]; }
wait_until 20 cmd_gone || fail "the stale CMD did not stop after it was resumed"
grep -q "fenced-writer: refused: epoch $epoch < $((epoch + 1))" "$KLE_RUN_DIR/replica-$li.log" ||
  fail "the stale CMD was not refused by the store"
echo "ok: the resumed stale CMD (epoch $epoch) was refused by the store and exited"

# The store's history: epochs never go down.
epochs=$(sed -n 's/^epoch=\([0-9]*\) .*/\1/p' "$store/writes")
sort -n -c <<<"$epochs" 2>/dev/null || fail "the store accepted an older epoch after a newer one: $(tr '\n' ' ' <<<"$epochs")"
echo "ok: $(wc -l <<<"$epochs") writes, epochs never decrease ($(uniq <<<"$epochs" | tr '\n' ' '))"
kill -CONT "$ctl"
echo "fenced_cmd: passed"
