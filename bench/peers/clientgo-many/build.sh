#!/usr/bin/env bash
# Builds the client-go many-leases peer into $KLE_CACHE/bin/clientgo-many-<client-go version>/ and
# prints the binary's path on stdout. Reuses a binary newer than its sources. Fails loudly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KLE_CACHE="${KLE_CACHE:-$HOME/.cache/kube-leader-elector}"
command -v go >/dev/null || { echo "clientgo-many peer: 'go' not found: install Go to build the client-go many-leases peer" >&2; exit 1; }
ver="$(awk '$1=="k8s.io/client-go"{print $2}' "$here/go.mod")"
[ -n "$ver" ] || { echo "clientgo-many peer: no k8s.io/client-go in $here/go.mod" >&2; exit 1; }
out="$KLE_CACHE/bin/clientgo-many-$ver/clientgo-many"
if [ -x "$out" ] && [ -z "$(find "$here" -newer "$out" \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print -quit)" ]; then
  echo "$out"; exit 0
fi
mkdir -p "$(dirname "$out")"
echo "clientgo-many peer: building client-go $ver elector -> $out" >&2
(cd "$here" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -o "$out.tmp" .) \
  || { echo "clientgo-many peer: go build failed" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "$out"
