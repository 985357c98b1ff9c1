#!/usr/bin/env bash
# Where a process's resident memory goes, per mapped file (issue 14: find the pages before
# choosing a fix). Reads /proc/PID/smaps; prints VmRSS, then Rss / Private / Shared (KiB) per
# mapping source, largest first: each shared library, the binary, [heap], [stack], anonymous.
#   hack/rss-breakdown.sh PID            e.g. a pod's process: its host PID from `ctr tasks ls`
set -euo pipefail
if [ $# -ne 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then echo "usage: $0 PID" >&2; exit 2; fi
[ -r "/proc/$1/smaps" ] || { echo "rss-breakdown: no readable /proc/$1/smaps (no such process, or not ours)" >&2; exit 1; }
tr '\0' ' ' <"/proc/$1/cmdline" | cut -c1-100
grep -E '^(VmRSS|RssAnon|RssFile|RssShmem|VmStk|Threads)' "/proc/$1/status" | tr -s ' \t' ' '
awk '
  /^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anonymous]"; next }
  $1 == "Rss:"            { rss[name] += $2 }
  $1 == "Private_Clean:" || $1 == "Private_Dirty:" { priv[name] += $2 }
  $1 == "Shared_Clean:"  || $1 == "Shared_Dirty:"  { shr[name] += $2 }
  END {
    for (n in rss) if (rss[n] > 0) printf "%8d %8d %8d  %s\n", rss[n], priv[n], shr[n], n
  }' "/proc/$1/smaps" | sort -rn | awk '
  BEGIN { printf "%8s %8s %8s  %s\n", "rss", "private", "shared", "mapping (KiB)" }
  { print; t += $1; p += $2; s += $3 }
  END { printf "%8d %8d %8d  total\n", t, p, s }'
