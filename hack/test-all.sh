#!/usr/bin/env bash
# `make test`: every suite, on a machine that may be brand new, in three lanes side by side.
# A 2-core machine spends most of a fresh run compiling (Go control plane, three C++ builds,
# the image) and most of the test time waiting on leases; running a waiting stage beside a
# compiling one is where the wall time goes down, and it runs every suite on a busy machine,
# which is where order-dependent tests show up.
#   lane build: dev build -> unit -> asan build -> asan unit -> clang-tidy + shellcheck
#   lane kube:  control plane + kubelet (Go) -> chart -> integration + e2e -> consumer (the
#               library installed, add_subdirectory'd and as .debs; examples on the apiserver)
#               -> integration + e2e under ASan
#   lane node:  image (podman; needs nothing from the others) -> real node (real pods, failover
#               table, sidecar mode; needs the kubelet from lane kube)
# A stage that needs another lane's output waits for its marker. The first failure stops all
# lanes from starting anything new; a stage already running finishes (its own traps stop
# clusters and nodes). Each stage's output is in $KLE_TEST_LOGS/<stage>.log; a failed stage's
# tail is printed. The last lines are a table of each stage's wall time.
# Env: KLE_TEST_LOGS (default build/test-logs), KLE_FAILOVERS (default 10 per kind),
#      KLE_REAL_NODE_ELECTION (lease/renew/retry/request timeout for the real-node run, default 5s/3s/1s/2s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOGS="${KLE_TEST_LOGS:-$PWD/build/test-logs}"
rm -rf "$LOGS" && mkdir -p "$LOGS/marks"
JOBS="$(nproc)"
T0=$SECONDS

say() { printf '[test %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# stage <name> <command...>: runs it with its output in $LOGS/<name>.log; records the time.
stage() {
  local name="$1" t=$SECONDS rc=0; shift
  [ ! -e "$LOGS/marks/FAILED" ] || return 1
  say "$name: started"
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null || rc=$?
  local took=$((SECONDS - t))
  if [ "$rc" -eq 0 ]; then
    echo "$name $took passed" >>"$LOGS/times"
    touch "$LOGS/marks/$name"
    say "$name: passed in ${took}s"
    return 0
  fi
  echo "$name $took FAILED" >>"$LOGS/times"
  echo "$name" >>"$LOGS/marks/FAILED"
  say "$name: FAILED (exit $rc) after ${took}s; last 150 lines of $LOGS/$name.log:"
  tail -n 150 "$LOGS/$name.log" | sed "s/^/  $name| /"
  return 1
}

# await <stage>: until the other lane has passed it; fails once anything has failed.
await() {
  until [ -e "$LOGS/marks/$1" ]; do
    [ ! -e "$LOGS/marks/FAILED" ] || return 1
    sleep 2
  done
}

build_preset() { cmake --preset "$1" >/dev/null && cmake --build --preset "$1" -j "$JOBS"; }
unit() { ctest --preset "$1" -L unit -j "$JOBS" --output-on-failure; }
tools() { hack/controlplane/build.sh && hack/controlplane/build.sh kubelet kube-proxy; }
image() { hack/image/build.sh && hack/image/pause.sh && hack/image/demo-app.sh; }
# The Dockerfile's library list is checked against the binary the image ships (release preset,
# static OpenSSL), copied out by the image stage; a dev build links other libraries.
chart() { LEADER_ELECTOR_BIN="$(. hack/image/lib.sh && echo "$IMG_BINARY")" tests/chart/run.sh; }
real_node() {
  KLE_FAILOVERS="${KLE_FAILOVERS:-10}" KLE_ELECTION="${KLE_REAL_NODE_ELECTION:-5s/3s/1s/2s}" \
    tests/e2e-node/real_node.sh && tests/e2e-node/sidecar.sh
}

# The failover table and pod memory are figures people read: print them, not only log them.
real_node_figures() {
  awk '/^Failovers \(/ { on = 1 } on && /^\[/ { on = 0 } on; /^\[sidecar .*(50\/50|after kubectl delete)/' \
    "$LOGS/real-node.log" | sed 's/^/  real-node| /'
}

# The ASan build goes before lint: the ASan integration run waits for it and then waits on
# leases for minutes, which lint's compiling can fill. Measured from a fresh clone with the Go
# binaries cached (2 cores): build 812 s and image 578 s side by side, ASan build 1518 s,
# lint 584 s, ASan integration 347 s, real node 654 s; 3286 s in all with lint first.
lane_build() {
  stage build build_preset dev &&
    stage unit unit dev &&
    stage asan-build build_preset asan &&
    stage asan-unit unit asan &&
    stage lint hack/lint.sh build/dev
}
lane_kube() {
  stage tools tools &&
    await build && await image && stage chart chart &&
    stage integration tests/run-integration.sh build/dev &&
    stage consumer tests/consumer/run.sh build/dev &&
    await asan-build && stage asan-integration tests/run-integration.sh build/asan
}
lane_node() {
  stage image image &&
    await tools && stage real-node real_node && real_node_figures
}

say "logs in $LOGS; $JOBS cores"
# Debian packages first and alone: every lane needs them and dpkg takes one installer at a time.
stage deps bash -c 'hack/deps.sh && hack/node-deps.sh' || true
if [ ! -e "$LOGS/marks/FAILED" ]; then
  lane_build & b=$!
  lane_kube & k=$!
  lane_node & n=$!
  wait "$b" || true
  wait "$k" || true
  wait "$n" || true
fi

echo
echo "stage              seconds  result"
awk '{ printf "%-18s %7d  %s\n", $1, $2, $3 }' "$LOGS/times"
echo "total              $(printf '%7d' $((SECONDS - T0)))"
if [ -e "$LOGS/marks/FAILED" ]; then
  # The reasons, last: a CI report may show only the final lines, and the tail of a failed
  # stage printed above ends in its cleanup (clusters stopping), not in what went wrong.
  while read -r name; do
    echo "why $name failed (its last FAIL/FAILED lines):"
    grep -E '(^|[^a-z])(FAIL|FAILED)([: ]|$)|Test +#[0-9]+: .*\*\*\*' "$LOGS/$name.log" | tail -n 8 |
      cut -c1-300 | sed "s/^/  $name| /"
  done <"$LOGS/marks/FAILED"
  say "FAILED: $(tr '\n' ' ' <"$LOGS/marks/FAILED")(logs in $LOGS)"
  exit 1
fi
n="$(wc -l <"$LOGS/times")"
[ "$n" -eq 13 ] || { say "only $n of 13 stages ran: refusing to report success"; exit 1; }
say "all 13 stages passed"
