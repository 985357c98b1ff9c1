#!/usr/bin/env bash
# End-to-end on the real control plane (issue 15, item 3): `leader-elector -- CMD` with the
# chart's restricted account. On each way the controller ends (SIGTERM; CMD exits 0; CMD
# exits 3; CMD cannot be spawned) the process must exit, with CMD's status, within a
# generous bound, and leave the Lease released (holder "") and its pod unlabelled.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KLE_APP=kle-wlexit
. tests/e2e/lib/controllers.sh

limit_s=20 # a loaded 2-core machine; a healthy run takes well under that
fail() { echo "FAIL: $*" >&2; echo "--- replica log:" >&2; tail -n 30 "$KLE_RUN_DIR"/replica-0.log >&2; exit 1; }
cleanup() { kle_stop_all; kle_delete_pods; }
trap cleanup EXIT

kle_create_pods 1
me="$KLE_APP-0"

exited() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}
leading() { [ "$(kle_holder)" = "$me" ] && [ "$(kle_labelled)" = "$me" ]; }
released() { [ -z "$(kle_holder)" ] && [ -z "$(kle_labelled)" ]; }
# `start` is kle_start's CMD marker: the controller has spawned (or tried to spawn) CMD.
spawned() { grep -q '"msg":"workload started"\|"msg":"workload could not be started"' "$KLE_RUN_DIR/replica-0.log"; }

# run_path NAME WANT_STATUS SEND_TERM CMD...
run_path() {
  local name=$1 want=$2 term=$3 pid rc=0
  shift 3
  : >"$KLE_RUN_DIR/replica-0.log"
  kle_start 0 -- "$@"
  pid=${KLE_PID[0]}
  if [ "$term" = yes ]; then
    wait_until 60 leading || fail "$name: never led: holder='$(kle_holder)' labelled='$(kle_labelled)'"
    wait_until "$limit_s" spawned || fail "$name: CMD never started"
    kill -TERM "$pid"
  fi
  wait_until $((limit_s + 60)) exited "$pid" ||
    fail "$name: the controller did not exit (holder='$(kle_holder)')"
  wait "$pid" || rc=$?
  KLE_PID=()
  [ "$rc" -eq "$want" ] || fail "$name: exit status $rc, want $want"
  spawned || fail "$name: the controller exited without ever starting CMD (did it lead?)"
  released || fail "$name: lease not released: holder='$(kle_holder)' labelled='$(kle_labelled)'"
  echo "ok: $name: exit $rc, lease released, pod unlabelled"
}

run_path sigterm 143 yes sleep 300
run_path exit0 0 no /bin/sh -c 'sleep 1; exit 0'
run_path exit3 3 no /bin/sh -c 'sleep 1; exit 3'
run_path nospawn 127 no /nonexistent/kle-no-such-command
