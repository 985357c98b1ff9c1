#!/usr/bin/env bash
# The library as another C++ project sees it (`make test-consumer`, stage `consumer` of make test).
#   tests/consumer/run.sh BUILD_DIR
# BUILD_DIR is a built tree of this repo (the controller included). tests/consumer (a check in
# standalone mode, plus examples/) is configured and built out of tree three ways:
#   install  `cmake --install BUILD_DIR` into a throwaway prefix, find_package through
#            CMAKE_PREFIX_PATH; the tree must hold no path of this checkout, no private header,
#            no kle_warnings; the README's pkg-config line compiles examples/basic as well;
#   subdir   add_subdirectory() of this repo (only the libraries are built);
#   deb      the CPack Debian packages of BUILD_DIR, `dpkg -x` into a throwaway root,
#            CMAKE_PREFIX_PATH=<root>/usr.
# The README's library snippet must be examples/basic/main.cpp, to the letter, so building
# basic builds the README. Then, against a fresh real kube-apiserver (its own KLE_CLUSTER_DIR,
# always stopped again), the deb-built examples run: basic (leads, SIGTERM releases), two-leases
# (holds both, SIGTERM releases both) and fenced-writer (two writers in turn write with rising
# epochs; a writer behind a newer epoch is refused). Any failed check fails the run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD_DIR="$(cd "$1" 2>/dev/null && pwd)" || { echo "consumer: no build dir '$1'" >&2; exit 2; }
[ -x "$BUILD_DIR/cmd/leader-elector/leader-elector" ] ||
  { echo "consumer: $BUILD_DIR has no leader-elector: build it first" >&2; exit 2; }
# Beside the repo's own build dirs (ccache, when there is one, makes a second run cheap).
work="$repo/build/consumer-$(basename "$BUILD_DIR")"
rm -rf "$work" && mkdir -p "$work"
KLE_CLUSTER_DIR="${TMPDIR:-/tmp}/kle-consumer-$(id -un)-$$"
export KLE_CLUSTER_DIR
cluster_started=0
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$repo"
fi
JOBS="${JOBS:-$(nproc)}"

log() { printf '[consumer %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

pids=()
finish() {
  local rc=$? pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ "$cluster_started" -eq 1 ]; then "$repo/tests/cluster/down" || rc=1; fi
  if [ "$rc" -eq 0 ]; then
    rm -rf "$KLE_CLUSTER_DIR"
    log "PASSED"
  else
    log "FAILED (exit $rc); work dir $work; cluster logs (if it was started) in $KLE_CLUSTER_DIR/logs"
  fi
  exit "$rc"
}
trap finish EXIT

# consumer_build <name> cmake-args...: configures and builds tests/consumer in $work/<name>,
# then runs its standalone check.
consumer_build() {
  local name="$1"; shift
  log "$name: configure and build tests/consumer"
  cmake -S "$repo/tests/consumer" -B "$work/$name" -G Ninja -DCMAKE_BUILD_TYPE=Debug "${launcher[@]}" "$@" \
    >"$work/$name.configure.log" 2>&1 || { cat "$work/$name.configure.log" >&2; fail "$name: configure"; }
  cmake --build "$work/$name" -j "$JOBS" >"$work/$name.build.log" 2>&1 ||
    { tail -n 60 "$work/$name.build.log" >&2; fail "$name: build"; }
  "$work/$name/standalone" || fail "$name: the standalone elector"
}

check_readme() {
  # The first ```cpp block of the README's library section, as a file.
  awk '/^## Using the library/ { sec = 1; next } sec && /^## / { exit }
       sec && /^```cpp/ { on = 1; next } on && /^```/ { exit } on' "$repo/README.md" >"$work/readme_snippet.cpp"
  [ -s "$work/readme_snippet.cpp" ] || fail "README: no \`\`\`cpp block in '## Using the library'"
  diff -u "$repo/examples/basic/main.cpp" "$work/readme_snippet.cpp" >&2 ||
    fail "README's library snippet differs from examples/basic/main.cpp (above)"
  log "README: the library snippet is examples/basic/main.cpp"
}

check_installed_tree() {
  local root="$1" what="$2" f
  # Text files only: a Debug build's archives carry DWARF directory names, which are not paths to use.
  if grep -rIl -e "$repo" -e "$BUILD_DIR" "$root" >&2; then fail "$what: absolute build paths in the files above"; fi
  for f in elector_impl.hpp config_detail.hpp transport_resolve.hpp yaml_depth.hpp; do
    [ -z "$(find "$root" -name "$f")" ] || fail "$what: private header $f installed"
  done
  if grep -rl kle_warnings "$root" >&2; then fail "$what: kle_warnings leaks into the files above"; fi
  [ -n "$(find "$root" -path '*/include/kle/election/elector.hpp')" ] || fail "$what: no kle/election/elector.hpp"
  log "$what: relocatable, no private headers, no kle_warnings"
}

mode_install() {
  local prefix="$work/prefix"
  log "install: cmake --install into $prefix"
  cmake --install "$BUILD_DIR" --prefix "$prefix" >"$work/install.log"
  check_installed_tree "$prefix" install
  consumer_build install -DCMAKE_PREFIX_PATH="$prefix"
  # The README's pkg-config line, against the same prefix.
  log "install: g++ \$(pkg-config --cflags --libs kube-leader-elector) examples/basic"
  local flags
  flags="$(PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name kube-leader-elector.pc)")" \
    pkg-config --cflags --libs kube-leader-elector)" || fail "pkg-config kube-leader-elector"
  # shellcheck disable=SC2086  # the flags are words
  g++ -std=c++20 -o "$work/basic-pkgconfig" "$repo/examples/basic/main.cpp" $flags ||
    fail "the pkg-config build of examples/basic"
}

mode_subdir() {
  consumer_build subdir -DKLE_CONSUMER_SOURCE="$repo" -DKLE_WARNINGS_AS_ERRORS=ON
  [ ! -e "$work/subdir/kube-leader-elector/cmd" ] || fail "subdir: the controller was configured for a consumer"
}

mode_deb() {
  log "deb: cpack -G DEB in $BUILD_DIR"
  (cd "$work" && cpack --config "$BUILD_DIR/CPackConfig.cmake" -B "$work/deb") >"$work/cpack.log" 2>&1 ||
    { tail -n 40 "$work/cpack.log" >&2; fail "cpack"; }
  local dev bin
  dev="$(find "$work/deb" -maxdepth 1 -name 'libkube-leader-elector-dev_*.deb')"
  bin="$(find "$work/deb" -maxdepth 1 -name 'leader-elector_*.deb')"
  if [ -z "$dev" ] || [ -z "$bin" ]; then
    ls -l "$work/deb" >&2
    fail "deb: expected libkube-leader-elector-dev and leader-elector packages"
  fi
  dpkg-deb -f "$dev" Depends | grep -q 'libyaml-cpp-dev' || fail "deb: -dev does not depend on libyaml-cpp-dev"
  dpkg-deb -f "$bin" Depends | grep -q 'libssl' || fail "deb: leader-elector has no shlibdeps (libssl)"
  log "deb: $(basename "$dev") Depends: $(dpkg-deb -f "$dev" Depends)"
  log "deb: $(basename "$bin") Depends: $(dpkg-deb -f "$bin" Depends)"
  dpkg -x "$dev" "$work/root" && dpkg -x "$bin" "$work/root"
  [ -x "$work/root/usr/bin/leader-elector" ] || fail "deb: no /usr/bin/leader-elector"
  check_installed_tree "$work/root" deb
  consumer_build deb -DCMAKE_PREFIX_PATH="$work/root/usr"
}

# wait_for <file> <extended regex> <pid>: until a line matches; fails if the process ends first.
wait_for() {
  local deadline=$((SECONDS + 60))
  until grep -Eq "$2" "$1"; do
    kill -0 "$3" 2>/dev/null || { cat "$1" "$1.err" >&2 || true; fail "pid $3 ended before printing /$2/"; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$1" "$1.err" >&2 || true; fail "no /$2/ after 60s"; }
    sleep 0.2
  done
}

# stop_and_wait <pid>: SIGTERM, then its exit status must be 0 (auto_close released the lease).
stop_and_wait() {
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || fail "pid $1 exited $rc after SIGTERM"
}

holder() {
  "$KLE_KUBECTL" --kubeconfig "$KLE_ADMIN_KUBECONFIG" -n default get lease "$1" -o jsonpath='{.spec.holderIdentity}'
}

run_basic_standalone() {
  local out="$work/run-basic-standalone.out" pid
  mkdir -p "$work/home"
  env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST HOME="$work/home" "$1/basic" >"$out" 2>"$out.err" &
  pid=$!; pids+=("$pid")
  wait_for "$out" '^leadership_acquired: .*\(I am the leader\)' "$pid"
  stop_and_wait "$pid"
  grep -q '^leadership_lost' "$out" || fail "basic (no cluster): no leadership_lost after SIGTERM"
  log "basic without a cluster: led, and SIGTERM ended it"
}

run_basic() {
  local out="$work/run-basic.out" pid
  POD_NAME=consumer-basic "$1/basic" "$KLE_ADMIN_KUBECONFIG" consumer-basic >"$out" 2>"$out.err" &
  pid=$!; pids+=("$pid")
  wait_for "$out" '^leadership_acquired: holder=consumer-basic .*\(I am the leader\)' "$pid"
  [ "$(holder consumer-basic)" = consumer-basic ] || fail "basic: the Lease does not name consumer-basic"
  stop_and_wait "$pid"
  [ -z "$(holder consumer-basic)" ] || fail "basic: the Lease still has a holder after SIGTERM"
  log "basic: led lease consumer-basic, SIGTERM released it"
}

run_two_leases() {
  local out="$work/run-two-leases.out" pid
  POD_NAME=consumer-two "$1/two-leases" "$KLE_ADMIN_KUBECONFIG" consumer-a consumer-b >"$out" 2>"$out.err" &
  pid=$!; pids+=("$pid")
  wait_for "$out" '^holding both leases' "$pid"
  [ "$(holder consumer-a)/$(holder consumer-b)" = consumer-two/consumer-two ] ||
    fail "two-leases: the Leases do not both name consumer-two"
  stop_and_wait "$pid"
  [ "$(holder consumer-a)/$(holder consumer-b)" = / ] || fail "two-leases: a Lease kept its holder"
  log "two-leases: held consumer-a and consumer-b in one io_context, SIGTERM released both"
}

run_fenced_writer() {
  local journal="$work/journal" w rc epochs
  rm -f "$journal"
  for w in writer-a writer-b; do
    POD_NAME="$w" timeout 60 "$1/fenced-writer" "$KLE_ADMIN_KUBECONFIG" consumer-fenced "$journal" 3 \
      >"$work/run-$w.out" 2>"$work/run-$w.out.err" || { cat "$work/run-$w.out"* >&2; fail "fenced-writer $w"; }
  done
  [ "$(wc -l <"$journal")" -eq 6 ] || { cat "$journal" >&2; fail "fenced-writer: expected 6 lines"; }
  epochs="$(awk '{ print $2 }' "$journal" | uniq | tr '\n' ' ')"
  read -r ea eb rest <<<"$epochs"
  if [ -n "${rest:-}" ] || [ -z "${eb:-}" ] || [ "$eb" -le "$ea" ]; then
    cat "$journal" >&2
    fail "fenced-writer: epochs '$epochs' do not rise from one writer to the next"
  fi
  # A writer whose term is older than what the journal has seen must be refused.
  echo "epoch 1000000 from-the-future 1" >>"$journal"
  rc=0
  POD_NAME=writer-c timeout 60 "$1/fenced-writer" "$KLE_ADMIN_KUBECONFIG" consumer-fenced "$journal" 3 \
    >"$work/run-writer-c.out" 2>"$work/run-writer-c.out.err" || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q '^fenced:' "$work/run-writer-c.out"; then
    cat "$work/run-writer-c.out"* >&2
    fail "fenced-writer: a stale epoch was not refused (exit $rc)"
  fi
  [ "$(wc -l <"$journal")" -eq 7 ] || fail "fenced-writer: the refused writer wrote"
  [ -z "$(holder consumer-fenced)" ] || fail "fenced-writer: the Lease was not released"
  log "fenced-writer: epochs $epochs in turn; a stale epoch was refused"
}

check_readme
mode_install
mode_subdir
mode_deb
bin="$work/deb/examples"
run_basic_standalone "$bin"

"$repo/tests/cluster/up" >/dev/null
cluster_started=1
# shellcheck source=/dev/null
. "$KLE_CLUSTER_DIR/env"
run_basic "$bin"
run_two_leases "$bin"
run_fenced_writer "$bin"
