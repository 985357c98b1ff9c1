#!/usr/bin/env bash
# Prints the cached path of a control-plane binary, e.g. `hack/controlplane/bin-path.sh kubectl`.
# Exit status 1 (and a hint on stderr) if it has not been built yet; the path is printed anyway.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 1 ] || cp_die "usage: $0 <$(IFS="|"; echo "${cp_components[*]}|${cp_node_components[*]}")>"
p="$(cp_bin_path "$1")"
echo "$p"
[ -x "$p" ] || { cp_log "$1 not built yet: run hack/controlplane/build.sh $1"; exit 1; }
