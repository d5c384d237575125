#!/usr/bin/env bash
# Fuzzes every parser of outside input (docs/fuzzing.md). Configures and builds the libFuzzer
# configuration (build/fuzz: clang, ASan + UBSan, -DMINIDL_FUZZ=ON), then for each target replays
# its committed inputs -- tests/fuzz/regressions/<target>/ (every crash found so far) and
# tests/fuzz/corpus/<target>/ (seeds) -- and fuzzes it from them. Fails on any crash, leak, timeout
# (10 s per input) or memory blow-up (2 GB); the input that did it is left in
# build/fuzz/artifacts/<target>/. New inputs the fuzzer finds go to build/fuzz/corpus/<target>/,
# never into the committed folders.
#
#   tools/fuzz.sh                       # CI: 30 s per target (about 6 minutes with the build)
#   tools/fuzz.sh 0                     # replay the committed inputs only
#   tools/fuzz.sh 600 npy config        # chosen targets, 10 minutes each
#   FUZZ_RUNS=10000000 tools/fuzz.sh    # a number of executions per target instead of a time
#   tools/fuzz.sh -1 npy                # uncapped: until a crash or Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD:-build/fuzz}

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (Debian packages clang and libclang-rt-14-dev)" >&2
  exit 1
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINIDL_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.cpp; do
    t=$(basename "$f" .cpp)
    targets+=("${t#fuzz_}")
  done
fi

mkdir -p "$build/logs"
status=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target '$t' ($bin)" >&2; exit 2; }
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  inputs=()
  for d in "tests/fuzz/regressions/$t" "tests/fuzz/corpus/$t"; do
    [ -d "$d" ] && inputs+=("$d")
  done
  if [ -n "${FUZZ_RUNS:-}" ]; then
    limit=(-runs="$FUZZ_RUNS")
  elif [ "$seconds" -eq 0 ]; then
    limit=(-runs=0)
  elif [ "$seconds" -lt 0 ]; then
    limit=()
  else
    limit=(-max_total_time="$seconds")
  fi
  log="$build/logs/$t.log"
  # The first folder receives new inputs; the committed ones are read only.
  if "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "${inputs[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and $build/artifacts/$t/)"
    status=1
    tail -n 40 "$log" >&2  # the sanitizer's report, where a CI log shows it
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  line="fuzz $t: ${runs:-?} executions, ${rate:-?}/s: $result"
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >>"$build/logs/summary.txt"
done
exit $status
