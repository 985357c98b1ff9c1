#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for N seconds
# (default 20) from the seed corpus. Usage: fuzz/run.sh [seconds] [target...]
# New corpus entries and crash artifacts go under build/fuzz/, never into fuzz/corpus/.
# Needs: clang-14, libclang-rt-14-dev (libFuzzer), libyaml-cpp-dev, nlohmann-json3-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lease pod error microtime kubeconfig)
CXX="${CXX:-clang++-14}"
out=build/fuzz
mkdir -p "$out"

flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -Ipkg/api/include -Ipkg/log/include -Ipkg/election/include -Ipkg/kube/include -Ipkg
       "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined)
api_sources=(pkg/api/*.cpp)
kube_sources=(pkg/kube/config.cpp pkg/kube/kubeconfig.cpp)

status=0
for t in "${targets[@]}"; do
  src=fuzz/fuzz_$t.cpp
  [ -f "$src" ] || { echo "no such target: $t" >&2; exit 2; }
  extra=()
  [ "$t" = kubeconfig ] && extra=("${kube_sources[@]}" -lyaml-cpp)
  echo "== building $t"
  "$CXX" "${flags[@]}" "$src" "${api_sources[@]}" "${extra[@]}" -o "$out/fuzz_$t"
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  echo "== running $t for ${seconds}s"
  if ! "$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "fuzz/corpus/$t" 2>"$out/$t.log"; then
    echo "!! $t found a crash; see $out/$t.log and $out/artifacts/$t/" >&2
    tail -40 "$out/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_runs|cov:" "$out/$t.log" | tail -2
  fi
done
exit $status
