#!/usr/bin/env bash
# End-to-end on the real control plane (issue 11): a container restarted in a pod that still
# carries the leader label (kill -9, then the kubelet restarts it in the same pod) clears that
# label itself at start, before campaigning, instead of being routed to as a follower until
# the new leader's next reconcile.
#   1. Another holder has the lease (as after a failover); our pod is labelled. The label must
#      go with the controller's first write (the PATCH after the GET of its own pod), before
#      it has even read the lease, and it must stay a follower.
#   2. The lease still names our own pod (the restart came before the lease expired; the new
#      process waits that term out like anyone, then takes the lease back): the label is
#      cleared first, then set again by the leader round; never the other way round.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KLE_APP=kle-rst
. tests/e2e/lib/controllers.sh

me="$KLE_APP-0"
log="$KLE_RUN_DIR/replica-0.log"
fail() { echo "FAIL: $*" >&2; echo "--- replica log:" >&2; tail -n 30 "$log" >&2; exit 1; }
delete_lease() { kadmin delete lease "$KLE_LEASE" --ignore-not-found >/dev/null 2>&1 || true; }
cleanup() { kle_stop_all; kle_delete_pods; delete_lease; }
trap cleanup EXIT

# hold_lease HOLDER SECONDS: the lease held by HOLDER, renewed now, for SECONDS.
hold_lease() {
  delete_lease
  kadmin apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: $KLE_LEASE}
spec:
  holderIdentity: $1
  leaseDurationSeconds: $2
  leaseTransitions: 7
  acquireTime: "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
  renewTime: "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
YAML
}
# line_of PATTERN: the line number of its first match in the log, or nothing.
line_of() { grep -n -m 1 -e "$1" "$log" | cut -d: -f1; }

kle_create_pods 1

# --- 1. restarted as a follower: someone else holds the lease.
hold_lease someone-else 3600
kadmin label pod "$me" "$KLE_LABEL_KEY=$KLE_LABEL_VALUE" --overwrite >/dev/null
[ "$(kle_labelled)" = "$me" ] || fail "could not label $me to start with"
: >"$log"
t0=$(now_ms)
kle_start 0
unlabelled() { [ -z "$(kle_labelled)" ]; }
wait_until 20 unlabelled || fail "the stale label on $me is still there: '$(kle_labelled)'"
t1=$(now_ms)
follows() { [ "$(kle_seen_holder 0)" = someone-else ]; }
wait_until 20 follows || fail "the controller does not see someone-else as the holder"
cleared=$(line_of '"msg":"leader label cleared"')
observed=$(line_of '"msg":"new leader observed"')
[ -n "$cleared" ] || fail "no 'leader label cleared' in the log"
[ -n "$observed" ] || fail "no 'new leader observed' in the log"
[ "$cleared" -lt "$observed" ] || fail "the label was cleared only after the first lease read (line $cleared >= $observed)"
[ "$(curl -s --max-time 2 "http://127.0.0.1:${KLE_PORT[0]}/leader" | jq -r .isLeader)" = false ] ||
  fail "the restarted controller claims leadership of a lease held by someone-else"
[ "$(kle_holder)" = someone-else ] || fail "the lease changed hands: '$(kle_holder)'"
[ -z "$(kle_labelled)" ] || fail "a label came back: '$(kle_labelled)'"
echo "ok: restarted follower cleared its own stale label $((t1 - t0)) ms after start, before reading the lease; lease untouched"
kle_stop_all

# --- 2. restarted before the lease expired: the lease still names this very pod.
hold_lease "$me" 6
kadmin label pod "$me" "$KLE_LABEL_KEY=$KLE_LABEL_VALUE" --overwrite >/dev/null
: >"$log"
kle_start 0
leads_labelled() { [ "$(kle_holder)" = "$me" ] && [ "$(kle_labelled)" = "$me" ] && grep -q '"msg":"leader label set"' "$log"; }
wait_until 40 leads_labelled || fail "did not take its own lease back with its label: holder='$(kle_holder)' labelled='$(kle_labelled)'"
cleared=$(line_of '"msg":"leader label cleared"')
acquired=$(line_of '"msg":"leadership acquired"')
set_again=$(line_of '"msg":"leader label set"')
if [ -z "$cleared" ] || [ -z "$acquired" ] || [ -z "$set_again" ]; then
  fail "missing lines: cleared='$cleared' acquired='$acquired' set='$set_again'"
fi
if [ "$cleared" -ge "$acquired" ] || [ "$acquired" -ge "$set_again" ]; then
  fail "want cleared < acquired < set, got lines $cleared, $acquired, $set_again"
fi
echo "ok: restarted holder cleared its label at start, took its lease back (epoch $(kle_transitions)), and the leader round labelled it again"
echo "restart_clears_label: passed"
