# shellcheck shell=bash
# Shared by tests/cluster/up and tests/cluster/down. Source it; it only defines things.
# Layout of a cluster directory ($KLE_CLUSTER_DIR):
#   env, server, ca.crt, namespace, restricted-lease, restricted.token,
#   admin.kubeconfig, restricted.kubeconfig     <- what integration tests read
#   pki/  etcd-data/  kubeconfigs/  pids/<component>.pid  ports  logs/<component>.log
KLE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../hack/controlplane/lib.sh
. "$KLE_REPO/hack/controlplane/lib.sh"
# shellcheck source=../lib/ports.sh
. "$KLE_REPO/tests/lib/ports.sh"
KLE_CLUSTER_DIR="${KLE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kle-cluster-$(id -un)}"
export KLE_CLUSTER_DIR

cl_log() { printf '[cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cl_die() { cl_log "ERROR: $*"; exit 1; }

# The PID in pids/<name>.pid, only if that process is still ours: its command line mentions
# the cluster directory (every component gets a path in it), so a recycled PID is never hit.
cl_live_pid() {
  local f="$KLE_CLUSTER_DIR/pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$KLE_CLUSTER_DIR" || return 1
  echo "$pid"
}

# cl_not_dead <name>: the process cl_start started for <name> has not exited (it may still be
# between fork and exec, when its cmdline is still this shell's and cl_live_pid does not
# know it yet: on a loaded machine that lasts long enough for a start-up wait to see it).
cl_not_dead() {
  local f="$KLE_CLUSTER_DIR/pids/$1.pid" pid stat
  [ -f "$f" ] && pid="$(cat "$f")" && [ -n "$pid" ] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"          # after "pid (comm) ": the state letter comes first
  [ "${stat%% *}" != Z ]       # a zombie has exited (not reaped yet by this shell)
}

# cl_stop <name> [signal]: stops one component by PID: the signal (TERM by default), up to
# 10 s grace, then KILL. Fine if it is not running.
cl_stop() {
  local n="$1" sig="${2:-TERM}" pid
  if pid="$(cl_live_pid "$n")"; then
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -d "/proc/$pid" ] || break
      # A zombie (our own child, not reaped yet) is already dead.
      grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
      cl_log "$n (pid $pid) still running 10s after SIG$sig: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    cl_log "stopped $n (pid $pid, SIG$sig)"
  fi
  rm -f "$KLE_CLUSTER_DIR/pids/$n.pid"
}

# Stops every component we started, newest first (so etcd goes last). Idempotent.
cl_stop_all() {
  local n
  for n in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do cl_stop "$n"; done
}

# cl_start <name> <binary> args...: detached from our stdin/stdout so callers (make, ctest) do not
# wait on it; the PID goes to pids/<name>.pid for `down`. The log is appended to, so a
# restarted component keeps what it printed before.
cl_start() {
  local name="$1"; shift
  nohup "$@" </dev/null >>"$KLE_CLUSTER_DIR/logs/$name.log" 2>&1 9>&- &
  echo $! >"$KLE_CLUSTER_DIR/pids/$name.pid"
  cl_log "started $name (pid $!), log $KLE_CLUSTER_DIR/logs/$name.log"
}

# cl_wait_ok <name> <url> curl-args...: polls until the URL answers 2xx; fails fast if the
# process died, and shows the end of its log either way.
cl_wait_ok() {
  local name="$1" url="$2" deadline=$((SECONDS + ${KLE_CLUSTER_READY_TIMEOUT:-120})); shift 2
  until curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; do
    if ! cl_not_dead "$name"; then
      tail -n 30 "$KLE_CLUSTER_DIR/logs/$name.log" >&2 || true
      cl_die "$name exited during start-up (log above)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$KLE_CLUSTER_DIR/logs/$name.log" >&2 || true
      cl_die "$name not healthy at $url after ${KLE_CLUSTER_READY_TIMEOUT:-120}s"
    fi
    sleep 0.2
  done
  cl_log "$name healthy ($url)"
}

# Prints N distinct free TCP ports (see tests/lib/ports.sh for why they avoid the ephemeral
# range). Callers hold the port lock (see `up`) until their processes have bound, so two
# concurrent `up`s cannot pick the same ones.
cl_free_ports() { kle_free_ports "$1" || cl_die "no $1 free TCP ports found"; }

# kubeconfig <file> <user> then either cert+key or a token.
cl_write_kubeconfig() {
  local file="$1" user="$2" server="$3" cred
  if [ $# -eq 5 ]; then
    cred="    client-certificate: $4
    client-key: $5"
  else
    cred="    token: $4"
  fi
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kle
  cluster:
    server: $server
    certificate-authority: $KLE_CLUSTER_DIR/ca.crt
users:
- name: $user
  user:
$cred
contexts:
- name: $user@kle
  context:
    cluster: kle
    user: $user
current-context: $user@kle
EOF
  chmod 600 "$file"
}

# Deletes everything in the cluster directory except logs/: a stale `server` or token must not
# make a later test think a cluster is up.
cl_remove_state() {
  [ -d "$KLE_CLUSTER_DIR" ] || return 0
  cl_is_cluster_dir || cl_die "$KLE_CLUSTER_DIR does not look like a cluster directory: not deleting"
  find "$KLE_CLUSTER_DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
}

# True for a missing or empty directory or one `up` made (it always has logs/). Guards the
# deletes against a KLE_CLUSTER_DIR that points somewhere precious by mistake.
cl_is_cluster_dir() {
  [ ! -e "$KLE_CLUSTER_DIR" ] || [ -d "$KLE_CLUSTER_DIR/logs" ] ||
    [ -z "$(ls -A "$KLE_CLUSTER_DIR" 2>/dev/null)" ]
}
