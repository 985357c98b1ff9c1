# shellcheck shell=bash disable=SC2034  # NODE_NAME, NODE_IP, ... are for the scripts that source this
# Shared by tests/node/{up,down,exec} and tests/e2e-node. Source it; it only defines things.
# A real node: containerd + runc + CNI bridge + kubelet + kube-proxy, together with the
# control plane of tests/cluster/up, inside one network + mount namespace held by a "holder"
# process. Layout of $KLE_NODE_DIR (default: $KLE_CLUSTER_DIR.node):
#   holder.pid  netns  mntns  cgroup-root  created-dirs   <- what down needs, written first
#   env  containerd/  kubelet/  pod-logs/  cni/  pki/  *.yaml  logs/<component>.log
NODE_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../cluster/lib.sh
. "$NODE_HERE/../cluster/lib.sh"
# shellcheck source=../../hack/image/lib.sh
. "$KLE_REPO/hack/image/lib.sh"
KLE_NODE_DIR="${KLE_NODE_DIR:-$KLE_CLUSTER_DIR.node}"
export KLE_NODE_DIR
N="$KLE_NODE_DIR"
NODE_NAME=kle-real-node
NODE_IP=10.244.0.1            # cni0 in the namespace: the node's address, the pods' gateway
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.0.0.0/24      # tests/cluster/up's service range

nd_log() { printf '[node %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
nd_die() { nd_log "ERROR: $*"; exit 1; }

# The holder's PID, only if it is still ours: its argv[0] names the node directory.
nd_holder_pid() {
  local pid
  pid="$(cat "$N/holder.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kle-node-holder:$N " || return 1
  echo "$pid"
}

# nd_in <cmd...>: runs a command in the node's network and mount namespaces.
nd_in() {
  local h
  h="$(nd_holder_pid)" || nd_die "no node running in $N (tests/node/up)"
  nsenter -t "$h" -n -m -- "$@"
}

# PIDs of every process in the node's network or mount namespace (pods have their own netns
# and are found through the cgroups instead).
nd_ns_pids() {
  local net mnt
  net="$(cat "$N/netns" 2>/dev/null)" || return 0
  mnt="$(cat "$N/mntns" 2>/dev/null)" || mnt=none
  # Never the host's namespaces, whatever the files say: that would be every process.
  if [ "$net" = "$(readlink /proc/1/ns/net)" ] || [ "$net" = "$(readlink /proc/self/ns/net)" ] ||
     [ "$mnt" = "$(readlink /proc/1/ns/mnt)" ] || [ "$mnt" = "$(readlink /proc/self/ns/mnt)" ]; then
    nd_log "WARNING: $N/netns or mntns names the host's namespace: ignoring"; return 0
  fi
  # One find over /proc/*/ns (a readlink per process is slow on a loaded machine). -lname
  # takes a glob: escape the brackets of "net:[4026532178]".
  net="${net//[/\\[}"; net="${net//]/\\]}"; mnt="${mnt//[/\\[}"; mnt="${mnt//]/\\]}"
  find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/*' \( -lname "$net" -o -lname "$mnt" \) \
    2>/dev/null | cut -d/ -f3 | sort -un | grep -vx "$$" || true
}

# Every cgroup hierarchy directory (v1 controllers and the unified one): cgroupfs creates the
# pods' cgroups under <hierarchy>/<cgroup-root> in each.
nd_cgroup_hierarchies() {
  awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts
}

# Kills what is left in our cgroup subtree and removes it, deepest first.
nd_remove_cgroups() {
  local root h d pids i
  root="$(cat "$N/cgroup-root" 2>/dev/null)" || return 0
  [[ "$root" == /kle-node-* ]] || return 0
  for i in 1 2 3 4 5; do
    pids="$(for h in $(nd_cgroup_hierarchies); do
      if [ -d "$h$root" ]; then find "$h$root" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
    done | sort -u)" || true
    [ -z "$pids" ] && break
    # A frozen (SIGSTOPped) task still dies of SIGKILL. $pids: one PID per line, split on purpose.
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  done
  for h in $(nd_cgroup_hierarchies); do
    [ -d "$h$root" ] || continue
    find "$h$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    if [ -d "$h$root" ]; then nd_log "WARNING: could not remove cgroup $h$root"; fi
  done
  return 0
}

nd_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# nd_kill_pids <sig> <grace seconds> <pids...>: the signal, then SIGKILL after the grace.
nd_kill_pids() {
  local sig="$1" grace="$2" p alive; shift 2
  [ $# -gt 0 ] || return 0
  kill -"$sig" "$@" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    alive=0
    for p in "$@"; do if nd_alive "$p"; then alive=1; break; fi; done
    [ "$alive" -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

# Stops everything `up` started, in any state `up` may have left (also half-way). Idempotent.
nd_teardown() {
  local h pids d
  [ -d "$N" ] || return 0
  # 1. The control plane (by its PID files), then the node's own daemons and shims.
  if ls "$KLE_CLUSTER_DIR"/pids/*.pid >/dev/null 2>&1; then
    "$KLE_REPO/tests/cluster/down" || nd_log "WARNING: tests/cluster/down failed"
  fi
  local n
  for n in kube-proxy kubelet; do
    [ -f "$N/$n.pid" ] && nd_kill_pids TERM 10 "$(cat "$N/$n.pid")"
    rm -f "$N/$n.pid"
  done
  # 2. Pods: every process in our cgroup subtree (containers and pause), then the cgroups.
  nd_remove_cgroups
  # 3. containerd, its shims and anything else still in the namespace, the holder last.
  h="$(nd_holder_pid)" || h=""
  pids="$(nd_ns_pids | grep -vx "${h:-none}" || true)"
  # shellcheck disable=SC2086
  nd_kill_pids TERM 10 $pids
  if [ -n "$h" ]; then nd_kill_pids KILL 5 "$h"; fi
  # Anything that escaped (started while we were killing): no mercy.
  pids="$(nd_ns_pids || true)"
  # shellcheck disable=SC2086
  [ -z "$pids" ] || nd_kill_pids KILL 5 $pids
  nd_remove_cgroups
  # 4. Mount points we had to create on the host (only empty directories; the mounts on them
  # lived in the node's mount namespace, which is gone with its last process).
  if [ -f "$N/created-dirs" ]; then
    tac "$N/created-dirs" | while read -r d; do rmdir "$d" 2>/dev/null || true; done
    rm -f "$N/created-dirs"
  fi
  # 5. Check, and say so if anything is left.
  pids="$(nd_ns_pids || true)"
  [ -z "$pids" ] || nd_log "WARNING: processes left in the node namespace: $pids"
  if grep -F "$N" /proc/self/mountinfo >&2; then nd_log "WARNING: mounts of $N left in the host mount namespace"; fi
  rm -f "$N"/*.pid "$N/netns" "$N/mntns" "$N/cgroup-root" "$N/env"
  return 0
}
