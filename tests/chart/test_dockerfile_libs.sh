#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage holds exactly the shared libraries the binary needs.
# The runtime stage is distroless/cc-debian12, which provides the Debian 12 packages libc6,
# libssl3, libgcc-s1 and libstdc++6; every other library must be COPY'd --from=build by path.
# Each library `ldd` resolves is mapped to its Debian package (`dpkg -S`): it must come from
# the base or from a copied path, and every copied path must be one ldd asks for.
# Usage: test_dockerfile_libs.sh BINARY   (e.g. build/release/cmd/leader-elector/leader-elector)
# KLE_DOCKERFILE=path checks another Dockerfile (used to prove a missing library is caught).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need ldd; need dpkg
bin="${1:-}"
[ -n "$bin" ] || t_die "usage: $0 BINARY (the leader-elector binary to check, e.g. build/release/cmd/leader-elector/leader-elector)"
[[ -f $bin && -x $bin ]] || t_die "binary $bin does not exist or is not executable: build it first (cmake --build --preset release --target leader-elector)"
dockerfile="${KLE_DOCKERFILE:-$KLE_REPO/Dockerfile}"
echo "runtime libraries of $bin vs the runtime stage of $dockerfile"

# The last stage, with continuation lines joined and comments dropped.
stage="$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$dockerfile" | grep -v -E '^[[:space:]]*#' \
  | awk '/^FROM / { buf = "" } { buf = buf "\n" $0 } END { print buf }')"
base="$(grep -m1 -oE '^FROM [^ ]+' <<<"$stage" | cut -d' ' -f2)"
check "runtime base is distroless/cc-debian12 ($base)" grep -qE '^gcr.io/distroless/cc-debian12(:|@)' <<<"$base"
base_pkgs=(libc6 libssl3 libgcc-s1 libstdc++6)
copied="$(grep -E '^COPY --from=build' <<<"$stage" | tr ' ' '\n' | grep -E '^/.*\.so(\.|$)' || true)"
# The release preset links everything but libc in (cmake/kle_static_deps.cmake), so the stage
# copies no library today; one it copies must still be one the binary needs (below).
echo "runtime stage copies: ${copied:-no libraries}"

pkg_of() {  # absolute library path -> Debian package, trying the /usr-merged spellings
  local p="$1" cand out
  for cand in "$p" "$(readlink -f "$p")" "/usr$p" "${p#/usr}"; do
    out="$(dpkg -S "$cand" 2>/dev/null)" || continue   # not `dpkg | head`: SIGPIPE under pipefail
    head -n 1 <<<"$out" | cut -d: -f1
    return 0
  done
  return 1
}

ldd_out="$(ldd "$bin")"
check "ldd resolves every library" bash -c "! grep -q 'not found' <<<'$ldd_out'"
declare -A needed=()
while read -r lib path; do
  pkg="$(pkg_of "$path")" || { not_ok "$lib ($path) belongs to no Debian package"; continue; }
  # Not `printf | grep -q`: grep quits at the first match, and under pipefail the printf
  # (line-buffered, one write per line) can then die of SIGPIPE and fail the test at random.
  if grep -qx -- "$pkg" <<<"$(printf '%s\n' "${base_pkgs[@]}")"; then
    ok "$lib -> $pkg (in distroless/cc-debian12)"
  elif grep -q "/$lib\$" <<<"$copied"; then
    needed[$lib]=1
    ok "$lib -> $pkg (copied from the build stage)"
  else
    not_ok "$lib -> $pkg: neither in distroless/cc-debian12 nor copied: add its path to the runtime COPY"
  fi
done < <(awk '/=>/ && $3 ~ /^\// { print $1, $3 } $1 ~ /^\/.*ld-linux/ { print $1, $1 }' <<<"$ldd_out")

while read -r path; do
  [ -n "$path" ] || continue
  check "copied $path exists in this Debian release (as in the build stage)" test -e "$path"
  check "copied $(basename "$path") is a library the binary needs" test -n "${needed[$(basename "$path")]:-}"
done <<<"$copied"
t_finish
