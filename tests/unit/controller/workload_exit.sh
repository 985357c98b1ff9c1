#!/usr/bin/env bash
# `leader-elector -- CMD`, the real binary with real commands (issue 15, items 3 and 4). It
# runs standalone: no --kubeconfig, no $KUBECONFIG, no KUBERNETES_SERVICE_HOST and an empty
# HOME, so it assumes leadership at once and starts CMD; no cluster is needed. Every way the
# controller ends must end the process, with CMD's status, well within $limit_s seconds:
#   SIGTERM; a second SIGTERM inside the workload's grace period (kills CMD at once);
#   CMD exits 0 (it also lists its fds: only 0, 1, 2 and the one ls reads); CMD exits 3;
#   CMD cannot be spawned (127); the HTTP port is taken (2).
#   workload_exit.sh path/to/leader-elector
set -uo pipefail
bin="${1:?usage: $0 path/to/leader-elector}"
[ -x "$bin" ] || { echo "no executable at $bin" >&2; exit 1; }
# shellcheck source=../../lib/ports.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lib/ports.sh"

limit_s=20 # generous: a loaded 2-core machine; a healthy run takes well under a second
work="$(mktemp -d "${TMPDIR:-/tmp}/kle-workload-exit.XXXXXX")"
mkdir "$work/home"
declare -A PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() {
  echo "FAIL: $*" >&2
  failed=1
}

# start NAME PORT GRACE CMD...: a controller in the background; stdout (CMD's too) and stderr
# go to $work/NAME.out and $work/NAME.err.
start() {
  local name=$1 port=$2 grace=$3
  shift 3
  env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT HOME="$work/home" \
    "$bin" --lease-name workload-exit --http-address "127.0.0.1:$port" --workload-grace "$grace" -- "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  PIDS[$name]=$!
}

# wait_for NAME FILE PATTERN: until FILE (out or err) of NAME has a line matching PATTERN.
wait_for() {
  local name=$1 file="$work/$1.$2" pattern=$3 i
  for ((i = 0; i < limit_s * 20; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "$name: no '$pattern' in $file within ${limit_s}s"
  return 1
}

# exited PID: the process is gone or a zombie (our child until `wait` reaps it).
exited() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}

# expect_exit NAME STATUS: NAME's process exits within $limit_s seconds with STATUS.
expect_exit() {
  local name=$1 want=$2 pid=${PIDS[$1]} i rc=0
  for ((i = 0; i < limit_s * 20; i++)); do
    exited "$pid" && break
    sleep 0.05
  done
  if ! exited "$pid"; then
    fail "$name: still running ${limit_s}s after it should have exited; its log:"
    sed 's/^/    /' "$work/$name.err" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "PIDS[$name]"
    return # our SIGKILL's 137 says nothing about the status it would have had
  fi
  wait "$pid" || rc=$?
  unset "PIDS[$name]"
  if [ "$rc" -ne "$want" ]; then
    fail "$name: exit status $rc, want $want; its log:"
    sed 's/^/    /' "$work/$name.err" >&2
  else
    echo "ok: $name exited with $rc"
  fi
}

read -r p1 p2 p3 p4 p5 < <(kle_free_ports 5)

# SIGTERM: CMD is stopped with SIGTERM, the controller exits with its status (128 + 15).
start sigterm "$p1" 10s sleep 300
if wait_for sigterm err '"msg":"workload started"'; then
  # The port is ours now: a second controller cannot serve HTTP and must exit 2, not hang
  # with its workload's SIGCHLD wait pending.
  start http-busy "$p1" 10s sleep 300
  expect_exit http-busy 2
  grep -q '"msg":"cannot serve HTTP"' "$work/http-busy.err" || fail "http-busy: no 'cannot serve HTTP'"
  kill -TERM "${PIDS[sigterm]}"
fi
expect_exit sigterm 143
grep -q '"msg":"shutting down"' "$work/sigterm.err" || fail "sigterm: no 'shutting down' in its log"

# A second SIGTERM while CMD ignores the first: CMD is killed at once (128 + 9), long before
# its 60 s grace period is over.
start sigterm-twice "$p2" 60s /bin/sh -c "trap '' TERM; echo ready; while :; do sleep 0.1; done"
if wait_for sigterm-twice out '^ready$'; then
  kill -TERM "${PIDS[sigterm-twice]}"
  if wait_for sigterm-twice err '"msg":"stopping workload"'; then
    kill -TERM "${PIDS[sigterm-twice]}"
  fi
fi
expect_exit sigterm-twice 137
grep -q 'signal received while shutting down' "$work/sigterm-twice.err" ||
  fail "sigterm-twice: the second signal was not acted on"

# CMD exits 0 by itself; what it printed is its list of open fds.
start exit0 "$p3" 10s ls -1 /proc/self/fd
expect_exit exit0 0
fds="$(tr '\n' ' ' <"$work/exit0.out")"
[ "$fds" = "0 1 2 3 " ] || fail "exit0: CMD had fds '$fds', want '0 1 2 3 ' (3: the directory ls reads)"

start exit3 "$p4" 10s /bin/sh -c 'exit 3'
expect_exit exit3 3

start nospawn "$p5" 10s /nonexistent/kle-no-such-command
expect_exit nospawn 127
grep -q '"msg":"workload could not be started"' "$work/nospawn.err" || fail "nospawn: no spawn error logged"

if [ "$failed" -ne 0 ]; then
  echo "workload_exit: FAILED" >&2
  exit 1
fi
echo "workload_exit: all paths exited as expected"
