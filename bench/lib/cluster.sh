# Shared by bench/run.sh, bench/failover-breakdown.sh and hack/measure-rss.sh.
# - cli_parse: their one flag loop.
# - cluster_ensure / cluster_release (the last two): use the control plane in $KLE_CLUSTER_DIR
#   if one is up there, else start a throw-away one (tests/cluster/up) that cluster_release
#   stops again. bench/run.sh does the same inline (with a /readyz probe).
# shellcheck shell=bash

# The flags a script takes, filled in before cli_parse: CLI_VALUE[--flag]=VAR sets VAR from the
# flag's argument; CLI_SWITCH[--flag]=FUNCTION calls FUNCTION. Anything else that starts with
# `-` is an error (exit 2); the other arguments land in CLI_ARGS, in order.
declare -A CLI_VALUE=() CLI_SWITCH=()
CLI_ARGS=()
# cli_parse PROG HELP_LINES ARGS...: -h/--help prints lines HELP_LINES (a sed range, e.g.
# 2,14) of the calling script and exits 0; errors name PROG.
cli_parse() {
  local prog=$1 help=$2
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) sed -n "${help}p" "$0"; exit 0 ;;
      -*)
        if [ -n "${CLI_VALUE[$1]:-}" ]; then
          [ $# -ge 2 ] || { echo "$prog: $1 needs a value" >&2; exit 2; }
          printf -v "${CLI_VALUE[$1]}" '%s' "$2"
          shift
        elif [ -n "${CLI_SWITCH[$1]:-}" ]; then
          "${CLI_SWITCH[$1]}"
        else
          echo "$prog: unknown flag $1" >&2; exit 2
        fi ;;
      *) CLI_ARGS+=("$1") ;;
    esac
    shift
  done
}

CLUSTER_OWNED=false
# cluster_ensure NAME: NAME names the throw-away cluster's directory under $TMPDIR.
cluster_ensure() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  [ -n "${KLE_CLUSTER_DIR:-}" ] && [ -f "$KLE_CLUSTER_DIR/env" ] && return 0
  KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-$1-$(id -un)-$$"
  export KLE_CLUSTER_DIR
  echo "starting a control plane in $KLE_CLUSTER_DIR" >&2
  "$repo/tests/cluster/up" >/dev/null
  CLUSTER_OWNED=true
}
cluster_release() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if $CLUSTER_OWNED; then "$repo/tests/cluster/down" >/dev/null 2>&1 || true; fi
}
