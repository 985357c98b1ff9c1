#!/usr/bin/env bash
# Unpacks the Debian source package of an installed -dev package, at exactly the installed
# version, for a build that needs the library as an archive that Debian does not ship
# (prometheus-cpp: only .so files; see cmake/kle_static_deps.cmake, KLE_PROMETHEUS_CPP_SOURCE).
#   hack/debian-source.sh SOURCE_PACKAGE BINARY_PACKAGE DEST_DIR
#   e.g. hack/debian-source.sh prometheus-cpp prometheus-cpp-dev ~/.cache/kube-leader-elector/src
# Prints the unpacked tree's path. The source comes from the same Debian archive as the
# binaries, through apt (its signed Sources index and the files' checksums), with a deb-src
# list of its own, so the system's apt configuration is not touched. dpkg-source (dpkg-dev)
# unpacks it and applies Debian's patches, as Debian's own build does.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 SOURCE_PACKAGE BINARY_PACKAGE DEST_DIR" >&2; exit 2; }
src=$1 bin=$2 dest=$3
command -v dpkg-source >/dev/null ||
  { echo "debian-source: dpkg-source is missing (apt-get install dpkg-dev)" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' "$bin" 2>/dev/null) ||
  { echo "debian-source: $bin is not installed; its source is taken at the installed version" >&2; exit 1; }
upstream=${version#*:}
upstream=${upstream%-*}
tree="$dest/$src-$upstream"
stamp="$tree/.kle-debian-version"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
  echo "$tree"
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/sources"
. /etc/os-release
cat >"$work/sources/src.sources" <<SOURCES
Types: deb-src
URIs: ${KLE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
Suites: $VERSION_CODENAME
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
  -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq >&2 ||
  { echo "debian-source: apt-get update of the deb-src index failed" >&2; exit 1; }
(cd "$work" && apt-get "${apt_opts[@]}" source -qq "$src=$version" >&2) ||
  { echo "debian-source: apt-get source $src=$version failed (is that version still in the archive?)" >&2; exit 1; }
[ -d "$work/$src-$upstream" ] || { echo "debian-source: apt-get source made no $src-$upstream" >&2; exit 1; }
rm -rf "$tree"
mv "$work/$src-$upstream" "$tree"
echo "$version" >"$stamp"
echo "$tree"
