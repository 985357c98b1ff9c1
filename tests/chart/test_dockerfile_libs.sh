#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage installs every shared library the binary needs:
# each library `ldd` resolves is mapped to its Debian package (`dpkg -S`), and that package must
# be in the runtime stage's apt-get install list, in debian-slim itself (Priority: required,
# plus apt), or a dependency of one of those (resolved through the local dpkg database, which
# is the same Debian release). Packages the list installs but no library needs are refused
# too, so the image stays minimal.
# Usage: test_dockerfile_libs.sh BINARY   (e.g. build/release/cmd/leader-elector/leader-elector)
# KLE_DOCKERFILE=path checks another Dockerfile (used to prove a missing package is caught).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need ldd; need dpkg-query
bin="${1:-}"
[ -n "$bin" ] || t_die "usage: $0 BINARY (the leader-elector binary to check, e.g. build/release/cmd/leader-elector/leader-elector)"
[ -f "$bin" ] && [ -x "$bin" ] || t_die "binary $bin does not exist or is not executable: build it first (cmake --build --preset release --target leader-elector)"
echo "runtime libraries of $bin vs the Dockerfile's runtime stage"

# The runtime (last) stage's apt-get install packages.
runtime="$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "${KLE_DOCKERFILE:-$KLE_REPO/Dockerfile}" | grep -v -E '^[[:space:]]*#' \
  | awk '/^FROM / { buf = "" } { buf = buf "\n" $0 } END { print buf }' \
  | grep -oE 'apt-get install [^&;|]*' | sed 's/apt-get install//' | tr ' ' '\n' | grep -v -e '^-' -e '^$' | sort -u)"
check "runtime stage installs packages: $(tr '\n' ' ' <<<"$runtime")" test -n "$runtime"

pkg_of() {  # absolute library path -> Debian package, trying the /usr-merged spellings
  local p="$1" cand
  for cand in "$p" "$(readlink -f "$p")" "/usr$p" "${p#/usr}"; do
    dpkg -S "$cand" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  return 1
}
deps_of() {  # package -> its Depends/Pre-Depends (first alternative, no versions)
  dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$1" 2>/dev/null | tr ',' '\n' \
    | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' || true
}

# Everything the image will contain: the slim base (required + apt) and the runtime list, with
# their dependency closure.
declare -A have=() why=()
queue=()
while read -r p; do queue+=("$p"); why[$p]="debian-slim base"; done < <(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }'; echo apt)
for p in $runtime; do queue+=("$p"); why[$p]="listed in the Dockerfile"; done
while [ ${#queue[@]} -gt 0 ]; do
  p="${queue[0]}"; queue=("${queue[@]:1}")
  [ -n "${have[$p]:-}" ] && continue
  have[$p]=1
  for d in $(deps_of "$p"); do
    [ -n "${have[$d]:-}" ] || { queue+=("$d"); why[$d]="${why[$d]:-dependency of $p}"; }
  done
done
t_log "the image would hold ${#have[@]} packages"

ldd_out="$(ldd "$bin")"
check "ldd resolves every library" bash -c "! grep -q 'not found' <<<'$ldd_out'"
declare -A needed=()
while read -r lib path; do
  pkg="$(pkg_of "$path")" || { not_ok "$lib ($path) belongs to no Debian package"; continue; }
  needed[$pkg]=1
  if [ -n "${have[$pkg]:-}" ]; then ok "$lib -> $pkg (${why[$pkg]})"
  else not_ok "$lib -> $pkg, which the runtime stage does not install: add it to the Dockerfile"; fi
done < <(awk '/=>/ && $3 ~ /^\// { print $1, $3 } $1 ~ /^\/.*ld-linux/ { print $1, $1 }' <<<"$ldd_out")

for p in $runtime; do
  [ "$p" = ca-certificates ] && continue   # data, not a library: trust roots for kubeconfig apiservers
  check "listed package $p provides a library the binary needs" test -n "${needed[$p]:-}"
done
t_finish
