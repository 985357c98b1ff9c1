#!/bin/sh
# A workload for `leader-elector ... -- fenced-writer.sh STORE [COUNT]` that fences its writes
# with the epoch the controller hands it (KLE_EPOCH: the Lease's leaseTransitions for the term
# this process leads).
#
# STORE is a directory every replica can reach (here: a shared volume; in production a
# database, an object store, a ConfigMap). It keeps the highest epoch it has accepted in
# STORE/epoch and appends one line per write to STORE/writes. A write whose epoch is lower
# than the one already accepted comes from a leader that was replaced but has not noticed yet
# (paused, partitioned, slow to stop): the store refuses it, and this script exits 75 so that
# its controller stops too. The check and the write happen under one lock held on the store;
# that is the part a real store must provide (a transaction, a conditional update), because a
# check made by the writer alone, before writing, is exactly what a paused leader gets wrong.
#
# COUNT writes, one every $FENCED_INTERVAL seconds (default 1); 0 or none: until SIGTERM.
set -u
store=${1:?usage: fenced-writer.sh STORE [COUNT]}
count=${2:-0}
interval=${FENCED_INTERVAL:-1}
epoch=${KLE_EPOCH:?KLE_EPOCH is not set: run me as leader-elector ... -- $0 STORE}
identity=${KLE_IDENTITY:-unknown}
case $epoch in '' | *[!0-9]*) echo "fenced-writer: KLE_EPOCH '$epoch' is not a number" >&2; exit 2 ;; esac
mkdir -p "$store" || exit 1

# One fenced write: 0 when accepted, 75 when refused (a newer epoch has written).
write_fenced() {
  (
    flock 9 || exit 1
    seen=$(cat "$store/epoch" 2>/dev/null) || seen=-1
    if [ "$epoch" -lt "$seen" ]; then
      echo "fenced-writer: refused: epoch $epoch < $seen, a newer leader has written; stopping" >&2
      exit 75
    fi
    if [ "$epoch" -gt "$seen" ]; then
      echo "$epoch" >"$store/epoch.tmp" && mv "$store/epoch.tmp" "$store/epoch" || exit 1
    fi
    echo "epoch=$epoch identity=$identity seq=$1" >>"$store/writes"
  ) 9>>"$store/lock"
}

trap 'echo "fenced-writer: epoch $epoch: stopping on SIGTERM"; exit 0' TERM INT
echo "fenced-writer: leading with epoch $epoch as $identity (lease ${KLE_LEASE:-?} in ${KLE_NAMESPACE:-?})"
seq=1
while [ "$count" -eq 0 ] || [ "$seq" -le "$count" ]; do
  write_fenced "$seq" || exit $?
  seq=$((seq + 1))
  # In the background so that SIGTERM runs the trap at once, not after the sleep.
  sleep "$interval" &
  wait $!
done
