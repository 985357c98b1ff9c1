#!/usr/bin/env bash
# Resident memory of an idle, connected leader-elector (issue 14, item 1), measured the same
# way for every candidate build: for each binary, two replicas run as pods kle-rss-0/1 (the
# chart's restricted service account, pod labelling on, as tests/e2e/lib/controllers.sh
# starts them) against the real apiserver of tests/cluster/up; once one leads and the other
# follows, both idle for S seconds, then VmRSS/RssAnon/RssFile/Threads are read from
# /proc/PID/status and hack/rss-breakdown.sh's per-mapping figures are summarised.
#   hack/measure-rss.sh [--seconds S] [--cgroup] LABEL=BINARY[,VAR=VALUE...] ...
#   e.g. hack/measure-rss.sh base=build/hD-base/cmd/leader-elector/leader-elector \
#          arena1=build/hD-base/cmd/leader-elector/leader-elector,MALLOC_ARENA_MAX=1
# VAR=VALUE pairs go into that candidate's environment (runtime knobs, no rebuild). Uses the
# cluster in $KLE_CLUSTER_DIR if one is up there, else starts one and stops it at the end.
# Prints one table row per replica (KiB) and the five largest mappings; the full
# rss-breakdown.sh output of each replica is kept in the run directory (printed at the end).
# --cgroup: each replica also runs in a memory cgroup of its own (cgroup v1), joined before
# the binary starts, as a pod's; the binary's file is dropped from the page cache before each
# replica starts, so its pages are read, and charged, by the replicas as by fresh pods. Adds
# the cgroup's memory.usage_in_bytes and memory.stat rss / mapped_file / cache (KiB).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_IDLE=60
# shellcheck source=bench/lib/cluster.sh
. "$repo/bench/lib/cluster.sh"
CLI_VALUE=([--seconds]=SECONDS_IDLE)
CGROUP=false
cgroup_on() { CGROUP=true; }
CLI_SWITCH=([--cgroup]=cgroup_on)
cli_parse measure-rss 2,18 "$@"
specs=("${CLI_ARGS[@]}")
for s in "${specs[@]}"; do
  [[ $s == *=* ]] || { echo "measure-rss: expected LABEL=BINARY[,VAR=VALUE...], got '$s'" >&2; exit 2; }
done
[ "${#specs[@]}" -gt 0 ] || { echo "usage: $0 [--seconds S] [--cgroup] LABEL=BINARY[,VAR=VALUE...] ..." >&2; exit 2; }
log() { printf '[measure-rss %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

CG_ROOT=/sys/fs/cgroup/memory/kle-rss-$$
if $CGROUP; then
  [ -w /sys/fs/cgroup/memory/cgroup.procs ] ||
    { echo "measure-rss: --cgroup needs the cgroup v1 memory controller, writable, at /sys/fs/cgroup/memory" >&2; exit 1; }
  mkdir "$CG_ROOT"
fi
cluster_ensure rss
# controllers.sh wants a BUILD_DIR with a binary; each candidate sets KLE_BIN below.
first_bin="${specs[0]#*=}"; first_bin="${first_bin%%,*}"
export KLE_BIN; KLE_BIN="$(realpath "$first_bin")"
BUILD_DIR="${BUILD_DIR:-$repo/build/dev}"
KLE_APP=kle-rss
# shellcheck source=tests/e2e/lib/controllers.sh
. "$repo/tests/e2e/lib/controllers.sh"
RUN="$KLE_RUN_DIR"
finish() {
  local rc=$?
  kle_stop_all
  kle_delete_pods
  # Empty cgroups only (their tasks have exited); charges left move to the parent.
  if [ -d "$CG_ROOT" ]; then find "$CG_ROOT" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$CG_ROOT" || true; fi
  cluster_release
  log "logs and breakdowns in $RUN"
  exit "$rc"
}
trap finish EXIT

kle_create_pods 2
table="$RUN/table"
printf '%-14s %-8s %8s %8s %8s %7s %8s %8s %8s %8s  %s\n' candidate role VmRSS RssAnon RssFile threads \
  cg_usage cg_rss cg_mapped cg_cache "largest mappings: rss/private KiB" >"$table"

# cgroup_figures DIR: usage, rss, mapped_file, cache in KiB ("- - - -" without --cgroup).
cgroup_figures() {
  if ! $CGROUP; then echo "- - - -"; return; fi
  awk -v u="$(cat "$1/memory.usage_in_bytes")" '$1 == "rss" || $1 == "mapped_file" || $1 == "cache" { v[$1] = $2 }
    END { printf "%d %d %d %d\n", u / 1024, v["rss"] / 1024, v["mapped_file"] / 1024, v["cache"] / 1024 }' "$1/memory.stat"
}

# measure LABEL ROLE PID POD: one table row, and the breakdown kept as RUN/LABEL-ROLE.smaps.txt.
measure() {
  local label=$1 role=$2 pid=$3 out="$RUN/$1-$2.smaps.txt" st top
  st=$(awk '/^(VmRSS|RssAnon|RssFile|Threads):/ { v[$1] = $2 }
            END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["Threads:"] }' "/proc/$pid/status")
  st="$st $(cgroup_figures "$CG_ROOT/$label/$4")"
  "$repo/hack/rss-breakdown.sh" "$pid" >"$out"
  top=$(awk '$4 != "total" && $1 ~ /^[0-9]+$/ { n = $4; sub(/.*\//, "", n); printf "%s %d/%d; ", n, $1, $2; if (++k == 5) exit }' \
    <(grep -E '^ *[0-9]+ +[0-9]+ +[0-9]+  ' "$out"))
  # shellcheck disable=SC2086  # st: eight numbers
  printf '%-14s %-8s %8s %8s %8s %7s %8s %8s %8s %8s  %s\n' "$label" "$role" $st "$top" >>"$table"
}

# evict FILE: with --cgroup, drops FILE's pages that nothing maps from the page cache, so the
# replica about to start reads them itself (a fresh pod's view).
evict() {
  $CGROUP || return 0
  # fsync first: dirty pages (a binary just copied or linked) cannot be dropped.
  python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}

for spec in "${specs[@]}"; do
  label="${spec%%=*}" rest="${spec#*=}"
  bin="${rest%%,*}" envs=()
  [ "$rest" != "$bin" ] && IFS=',' read -r -a envs <<<"${rest#*,}"
  [ -x "$bin" ] || { log "$label: no binary at $bin"; exit 1; }
  KLE_BIN="$(realpath "$bin")"
  real_bin=$KLE_BIN
  if $CGROUP; then
    # kle_start runs KLE_BIN: a wrapper that joins the replica's cgroup, then becomes the binary.
    mkdir "$CG_ROOT/$label"
    KLE_BIN="$RUN/$label.in-cgroup"
    # shellcheck disable=SC2016  # $POD_NAME, $$ and $@ are the wrapper's, expanded when it runs
    printf '#!/bin/sh\ncg="%s/$POD_NAME"\nmkdir "$cg" && echo $$ >"$cg/cgroup.procs" && exec "%s" "$@"\n' \
      "$CG_ROOT/$label" "$real_bin" >"$KLE_BIN"
    chmod +x "$KLE_BIN"
  fi
  kadmin delete lease "$KLE_LEASE" --ignore-not-found >/dev/null
  log "$label: $KLE_BIN ${envs[*]:-}"
  # VAR=VALUE... only for this candidate: exported while its replicas start, then unset.
  [ "${#envs[@]}" -gt 0 ] && export "${envs[@]}"
  evict "$real_bin"
  kle_start 0 --log-level info
  is_leader() { [ "$(curl -s --max-time 1 "http://127.0.0.1:${KLE_PORT[0]}/leader" | jq -r .isLeader)" = true ]; }
  wait_until 20 is_leader || { log "$label: replica 0 did not lead within 20s"; exit 1; }
  evict "$real_bin"
  kle_start 1 --log-level info
  for e in "${envs[@]}"; do unset "${e%%=*}"; done
  follows() { [ "$(kle_seen_holder 1)" = "$KLE_APP-0" ]; }
  wait_until 20 follows ||
    { log "$label: replica 1 does not follow $KLE_APP-0"; exit 1; }
  log "$label: leader $KLE_APP-0 (pid ${KLE_PID[0]}), follower $KLE_APP-1 (pid ${KLE_PID[1]}); idle ${SECONDS_IDLE}s"
  sleep "$SECONDS_IDLE"
  for i in 0 1; do kill -0 "${KLE_PID[$i]}" 2>/dev/null || { log "$label: replica $i died"; exit 1; }; done
  measure "$label" leader "${KLE_PID[0]}" "$KLE_APP-0"
  measure "$label" follower "${KLE_PID[1]}" "$KLE_APP-1"
  kle_stop_all  # SIGTERM and wait: the leader releases before the next candidate starts
done
echo "idle ${SECONDS_IDLE}s after leader + follower were up; KiB from /proc/PID/status, mappings from hack/rss-breakdown.sh$($CGROUP && echo ", cg_* from each replica's memory cgroup")"
cat "$table"
