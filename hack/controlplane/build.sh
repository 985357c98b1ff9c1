#!/usr/bin/env bash
# Builds the control-plane binaries from the Go module proxy into the version-keyed cache
#   $KLE_CACHE/bin/<name>-<version>/<name>     (KLE_CACHE default ~/.cache/kube-leader-elector)
# Usage: hack/controlplane/build.sh [component ...]   (default: the control plane, cp_components
# in lib.sh; the node's kubelet and kube-proxy only when named: tests/node/up asks for them)
# A component whose binary is already there is skipped, whoever built it. Builds use the
# committed wrapper modules (k8s/, etcd/, helm/, kwok/) read-only, so they are reproducible.
# kwok is optional: if it fails to build, the others still count and we say so.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false" GOTOOLCHAIN=local
command -v go >/dev/null || cp_die "go not found on PATH (need Go >= 1.25)"

# k8s's --version comes from -X flags (hack/lib/version.sh sets the same pair of packages).
# buildDate is the tag's publication time from the proxy, not "now", so rebuilds are identical.
k8s_ldflags() {
  local date info major minor rest
  # Read the proxy's .info file: `go mod download -json` prints Time only when it downloads,
  # not for a module already in the cache, which gave buildDate=null on warm caches.
  info="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | jq -r '.Info // empty')"
  { [ -n "$info" ] && [ -r "$info" ]; } || cp_die "no .info file for k8s.io/kubernetes@$KUBE_VERSION"
  date="$(jq -r '.Time // empty' "$info")"
  [ -n "$date" ] || cp_die "$info has no Time"
  major="${KUBE_VERSION#v}"; major="${major%%.*}"
  rest="${KUBE_VERSION#v*.}"; minor="${rest%%.*}"
  local f=() pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=("-X $pkg.gitVersion=$KUBE_VERSION" "-X $pkg.gitMajor=$major" "-X $pkg.gitMinor=$minor"
        "-X $pkg.gitTreeState=clean" "-X $pkg.buildDate=$date")
  done
  echo "-s -w ${f[*]}"
}

# The file name go build gives a package's binary: its last path element, except that a
# major-version suffix is skipped (go.etcd.io/etcd/server/v3 -> server).
exec_name() {
  local base="${1##*/}"
  if [[ "$base" =~ ^v[0-9]+$ ]]; then base="${1%/*}"; base="${base##*/}"; fi
  echo "$base"
}

# build_group <module dir> <ldflags> <component:package>...: one `go build` for all the
# missing components of a module, so shared packages are compiled once; then install each.
build_group() {
  local mod="$1" ldflags="$2"; shift 2
  local names=() pkgs=() spec name pkg start tmp
  for spec in "$@"; do
    name="${spec%%:*}"; pkg="${spec#*:}"
    if [ -x "$(cp_bin_path "$name")" ]; then
      cp_log "$name $(cp_version_of "$name"): cached at $(cp_bin_path "$name"), skipping"
    else
      names+=("$name"); pkgs+=("$pkg")
    fi
  done
  [ ${#names[@]} -gt 0 ] || return 0
  cp_log "building ${names[*]} from $mod/go.mod (cold Go cache: many minutes on 2 cores)"
  start=$SECONDS
  tmp="$(mktemp -d "$KLE_CACHE/bin/.build.XXXXXX")"
  # go build is silent for many minutes on a cold cache: say every minute that it is alive.
  (while sleep 60; do cp_log "  ... still building ${names[*]} ($((SECONDS - start))s)"; done) &
  local ticker=$! ok=1
  (cd "$CP_DIR/$mod" && go build -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}") || ok=0
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  if [ "$ok" -eq 0 ]; then
    rm -rf "$tmp"
    cp_log "FAILED: ${names[*]} after $((SECONDS - start))s"
    return 1
  fi
  local i dest
  for i in "${!names[@]}"; do
    dest="$(cp_bin_path "${names[$i]}")"
    mkdir -p "$(dirname "$dest")"
    mv -f "$tmp/$(exec_name "${pkgs[$i]}")" "$dest.tmp" && mv -f "$dest.tmp" "$dest" || return 1
    cp_log "installed $dest"
  done
  rm -rf "$tmp"
  cp_log "built ${names[*]} in $((SECONDS - start))s"
}

# Standalone kwok does nothing without Stage objects (kwokctl normally supplies them). Install
# upstream's own "fast" node and pod stages plus node heartbeats, taken from the same module
# version, next to the binary: tests/cluster/up passes this file with --config.
kwok_stages() {
  local dest dir f
  dest="$(dirname "$(cp_bin_path kwok)")/stages.yaml"
  [ -s "$dest" ] && return 0
  dir="$(cd "$CP_DIR/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | jq -r .Dir)"
  for f in "$dir"/kustomize/stage/{node/fast,node/heartbeat,pod/fast}/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    echo "---"; cat "$f"
  done >"$dest.tmp" && mv -f "$dest.tmp" "$dest"
  cp_log "installed $dest ($(grep -c '^kind: Stage' "$dest") stages)"
}

build_component() {
  case "$1" in
    etcd) build_group etcd "-s -w" "etcd:go.etcd.io/etcd/server/v3" ;;
    helm) build_group helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
            "helm:helm.sh/helm/v3/cmd/helm" ;;
    kwok) build_group kwok "-s -w" "kwok:sigs.k8s.io/kwok/cmd/kwok" && kwok_stages ;;
    *) cp_die "unknown component '$1' (known: ${cp_components[*]} ${cp_node_components[*]})" ;;
  esac
}

main() {
  local want=("$@") c failed=() total=$SECONDS
  [ ${#want[@]} -gt 0 ] || want=("${cp_components[@]}")
  mkdir -p "$KLE_CACHE/bin"
  cp_log "Go $(go env GOVERSION), cache $KLE_CACHE/bin, components: ${want[*]}"
  # The k8s binaries share most packages: build the missing ones in one go.
  local k8s=() rest=()
  for c in "${want[@]}"; do
    case "$c" in kube-*|kubectl|kubelet) k8s+=("$c:k8s.io/kubernetes/cmd/$c") ;; *) rest+=("$c") ;; esac
  done
  if [ ${#k8s[@]} -gt 0 ]; then
    build_group k8s "$(k8s_ldflags)" "${k8s[@]}" || failed+=(kubernetes)
  fi
  for c in ${rest[@]+"${rest[@]}"}; do
    build_component "$c" || failed+=("$c")
  done
  cp_log "done in $((SECONDS - total))s"
  if [ ${#failed[@]} -gt 0 ]; then
    # kwok is only needed to make fake pods Ready; everything else is required.
    if [ "${failed[*]}" = kwok ]; then
      cp_log "WARNING: kwok failed to build; clusters will run without fake nodes"
      return 0
    fi
    cp_die "failed to build: ${failed[*]}"
  fi
}

main "$@"
