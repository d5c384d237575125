#!/usr/bin/env bash
# Verifies minidl's CUDA code on a GPU machine in one short run (DESIGN.md §10, docs/gpu.md).
#
#   tools/gpu_check.sh build          here: a CUDA build for sm_90 in build-gpu/, then build-gpu/bundle/
#                                     (bin/ + lib/, stripped, < 64 MiB) whose files ask for nothing but the
#                                     C library, cuBLAS/cuDNN and what the bundle itself holds; prints the
#                                     ELF NEEDED lists and the size
#   tools/gpu_check.sh run OUTDIR     there (the bundle carried beside the sources), within one deadline
#                                     (GPU_CHECK_DEADLINE seconds, 480 by default), in this order:
#                                     1. minidl_test_cuda (the CUDA twins)
#                                     2. compute-sanitizer memcheck over a subset of them
#                                     3. GPU benchmarks: kernels, fused SGD, three models (NCHW, channels-last) beside PyTorch's
#                                     4. the CPU suites, while time remains
#                                     and writes OUTDIR/report.md and OUTDIR/report.json after every step
#                                     (a run cut off still leaves what it did), logs under OUTDIR/logs/.
#                                     Exit 0 when nothing failed.
# GPU_CHECK_BUNDLE=DIR runs another bundle (for testing this script with fake test programs).
set -uo pipefail
CALLER_DIR=$PWD  # a relative OUTDIR is the caller's
cd "$(dirname "$0")/.."
SRC=$PWD
BUNDLE=${GPU_CHECK_BUNDLE:-build-gpu/bundle}  # another folder: for testing this script
# What our files may ask for directly (ELF NEEDED), besides the libraries the bundle holds itself
# (libminidl.so, libz.so.1): the C library and the CUDA libraries the GPU machine provides.
ALLOWED='^(ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libcublas\.so\.|libcublasLt\.so\.|libcudnn\.so\.|libnccl\.so\.)'

build() {
  set -e
  local start=$SECONDS
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=ON \
    -DMINIDL_CUDA_ARCHITECTURES=90 -DMINIDL_PORTABLE=ON -DMINIDL_MPI=OFF >/dev/null
  cmake --build build-gpu -j "${JOBS:-$(nproc)}"
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
  cp build-gpu/libminidl.so "$BUNDLE/lib/"
  # zlib (PNG, gzip): Debian's libz.a is not position-independent, so it cannot be linked into
  # libminidl.so; the bundle carries the shared library the build linked against (it needs libc alone).
  local zlib
  zlib=$(ldd build-gpu/libminidl.so | awk '$1 == "libz.so.1" { print $3 }')
  [ -n "$zlib" ] && cp -L "$zlib" "$BUNDLE/lib/libz.so.1"
  find build-gpu/tests build-gpu/tools -maxdepth 1 -type f -name 'minidl_*' -perm -u+x -exec cp {} "$BUNDLE/bin/" \;
  strip --strip-unneeded "$BUNDLE"/lib/*.so* "$BUNDLE"/bin/*
  echo "== ldd libminidl.so"
  LD_LIBRARY_PATH="$BUNDLE/lib" ldd "$BUNDLE/lib/libminidl.so" | sed 's/ (0x[0-9a-f]*)//'
  echo "== direct needs (ELF NEEDED) of every file; outside the allowed set and the bundle's lib/ is an error"
  local bad=0 f needed lib
  for f in "$BUNDLE"/lib/*.so* "$BUNDLE"/bin/*; do
    needed=$(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "   $(basename "$f"): $needed"
    for lib in $needed; do
      [ -e "$BUNDLE/lib/$lib" ] || grep -Eq "$ALLOWED" <<<"$lib" || { echo "   NOT ALLOWED: $lib"; bad=1; }
    done
  done
  local size
  size=$(du -sm "$BUNDLE" | cut -f1)
  echo "== bundle: $BUNDLE, ${size} MiB ($(du -sb "$BUNDLE" | cut -f1) bytes); built in $((SECONDS - start)) s"
  [ "$size" -lt 64 ] || { echo "bundle too large for the device tool (64 MiB)"; bad=1; }
  return $bad
}

# ---- run: the report ---------------------------------------------------------------------------------
# Rows (one per step), benchmark figures and environment facts live in these arrays; write_report turns
# them into report.md and report.json after every step.
R_STEP=() R_NAME=() R_STATUS=() R_RESULT=() R_PASSED=() R_FAILED=() R_SKIPPED=() R_SECONDS=() R_NOTE=()
R_FAILS=() R_SKIPS=() R_LOG=()
F_BENCH=() F_NAME=() F_VALUE=() F_UNIT=() F_NOTE=()
E_KEY=() E_VAL=()
OUT="" STEP_PID="" VERDICT=RUNNING VERDICT_WHY="the check is still running (or was cut off)" T0=$SECONDS DEADLINE=480
HAS_GPU=0 CUDA_PASSED=0

env_add() { E_KEY+=("$1"); E_VAL+=("$2"); }
elapsed() { echo $((SECONDS - T0)); }
time_left() { echo $((DEADLINE - (SECONDS - T0))); }

# row STEP NAME STATUS RESULT PASSED FAILED SKIPPED SECONDS NOTE FAILS SKIPS LOG
# STATUS: passed | failed | skipped | not run | cut (stopped by the deadline); RESULT: the words shown.
row() {
  R_STEP+=("$1") R_NAME+=("$2") R_STATUS+=("$3") R_RESULT+=("$4") R_PASSED+=("$5") R_FAILED+=("$6")
  R_SKIPPED+=("$7") R_SECONDS+=("$8") R_NOTE+=("$9") R_FAILS+=("${10}") R_SKIPS+=("${11}") R_LOG+=("${12}")
  write_report
}
not_run() { row "$1" "$2" "not run" "not run: $3" "" "" "" "" "" "" "" ""; }
figure() { F_BENCH+=("$1") F_NAME+=("$2") F_VALUE+=("$3") F_UNIT+=("$4") F_NOTE+=("${5:-}"); }

# Formatting helpers set REPLY (no subshell: the report is rewritten after every step).
# js: a JSON string literal; jn: a JSON number, or null; cl: one line for a Markdown cell.
js() {
  local s=$1
  s=${s//\\/\\\\} s=${s//\"/\\\"} s=${s//$'\n'/\\n} s=${s//$'\t'/\\t} s=${s//$'\r'/\\r}
  REPLY="\"${s//[[:cntrl:]]/}\""
}
jn() { if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then REPLY=$1; else REPLY=null; fi; }
cl() { local s=${1//[[:cntrl:]]/ }; REPLY=${s//|//}; }

write_report() {
  [ -n "$OUT" ] || return 0
  local i sep n why a b c d e f g h
  {
    echo "# minidl GPU check — $STARTED"
    echo
    echo "**$VERDICT** — $VERDICT_WHY"
    echo
    echo "Deadline ${DEADLINE} s; $(elapsed) s used. Logs: \`logs/\` beside this file."
    echo
    echo "## Environment"
    echo
    echo "| | |"
    echo "|---|---|"
    for i in "${!E_KEY[@]}"; do cl "${E_VAL[$i]}"; echo "| ${E_KEY[$i]} | $REPLY |"; done
    echo
    echo "## Steps"
    echo
    echo "| step | what | result | passed | failed | skipped | s | notes |"
    echo "|---|---|---|---|---|---|---|---|"
    for i in "${!R_NAME[@]}"; do
      cl "${R_RESULT[$i]}"; a=$REPLY; cl "${R_NOTE[$i]}"
      echo "| ${R_STEP[$i]} | ${R_NAME[$i]} | $a | ${R_PASSED[$i]} | ${R_FAILED[$i]} | ${R_SKIPPED[$i]} |" \
           "${R_SECONDS[$i]} | $REPLY |"
    done
    for i in "${!R_NAME[@]}"; do
      [ -n "${R_FAILS[$i]}" ] || continue
      echo; echo "Failed in ${R_NAME[$i]}:"
      while IFS=$'\t' read -r n why; do cl "$why"; echo "- \`$n\`: $REPLY"; done <<<"${R_FAILS[$i]}"
    done
    for i in "${!R_NAME[@]}"; do
      if [ -z "${R_SKIPS[$i]}" ] || [ "${R_STATUS[$i]}" = skipped ]; then continue; fi
      echo; echo "Skipped in ${R_NAME[$i]}:"
      while IFS=$'\t' read -r n why; do cl "$why"; echo "- $n: $REPLY"; done <<<"${R_SKIPS[$i]}"
    done
    echo
    echo "## Benchmarks"
    echo
    if [ ${#F_NAME[@]} -eq 0 ]; then
      echo "No figures (see the steps above)."
    else
      echo "| benchmark | figure | value | unit | notes |"
      echo "|---|---|---|---|---|"
      for i in "${!F_NAME[@]}"; do
        cl "${F_NOTE[$i]}"; echo "| ${F_BENCH[$i]} | ${F_NAME[$i]} | ${F_VALUE[$i]} | ${F_UNIT[$i]} | $REPLY |"
      done
    fi
    echo
    echo "## Not run"
    echo
    sep=0
    for i in "${!R_NAME[@]}"; do
      case "${R_STATUS[$i]}" in "not run" | cut) cl "${R_RESULT[$i]}"; echo "- ${R_NAME[$i]}: $REPLY"; sep=1 ;; esac
    done
    [ $sep = 1 ] || echo "Everything ran."
  } > "$OUT/report.md.tmp"
  {
    js "$STARTED"; a=$REPLY; js "$VERDICT"; b=$REPLY; js "$VERDICT_WHY"; c=$REPLY
    printf '{\n  "started": %s,\n  "verdict": %s,\n  "verdict_why": %s,\n' "$a" "$b" "$c"
    printf '  "deadline_s": %s,\n  "elapsed_s": %s,\n  "has_gpu": %s,\n  "environment": {' \
      "$DEADLINE" "$(elapsed)" "$([ $HAS_GPU = 1 ] && echo true || echo false)"
    sep=""
    for i in "${!E_KEY[@]}"; do
      js "${E_KEY[$i]}"; a=$REPLY; js "${E_VAL[$i]}"; printf '%s\n    %s: %s' "$sep" "$a" "$REPLY"; sep=,
    done
    printf '\n  },\n  "steps": ['
    sep=""
    for i in "${!R_NAME[@]}"; do
      js "${R_NAME[$i]}"; a=$REPLY; js "${R_STATUS[$i]}"; b=$REPLY; js "${R_RESULT[$i]}"; c=$REPLY
      jn "${R_PASSED[$i]}"; d=$REPLY; jn "${R_FAILED[$i]}"; e=$REPLY; jn "${R_SKIPPED[$i]}"; f=$REPLY
      jn "${R_SECONDS[$i]}"; g=$REPLY; js "${R_NOTE[$i]}"; h=$REPLY; js "${R_LOG[$i]}"
      printf '%s\n    {"step": %s, "name": %s, "status": %s, "result": %s, "passed": %s, "failed": %s, "skipped": %s, "seconds": %s, "note": %s, "log": %s, "failed_tests": [' \
        "$sep" "${R_STEP[$i]}" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$REPLY"
      a=""
      if [ -n "${R_FAILS[$i]}" ]; then
        while IFS=$'\t' read -r n why; do
          js "$n"; b=$REPLY; js "$why"; printf '%s{"name": %s, "why": %s}' "$a" "$b" "$REPLY"; a=", "
        done <<<"${R_FAILS[$i]}"
      fi
      printf '], "skip_reasons": ['
      a=""
      if [ -n "${R_SKIPS[$i]}" ]; then
        while IFS=$'\t' read -r n why; do
          jn "$n"; b=$REPLY; js "$why"; printf '%s{"count": %s, "reason": %s}' "$a" "$b" "$REPLY"; a=", "
        done <<<"${R_SKIPS[$i]}"
      fi
      printf ']}'
      sep=,
    done
    printf '\n  ],\n  "benchmarks": ['
    sep=""
    for i in "${!F_NAME[@]}"; do
      js "${F_BENCH[$i]}"; a=$REPLY; js "${F_NAME[$i]}"; b=$REPLY; jn "${F_VALUE[$i]}"; c=$REPLY
      js "${F_UNIT[$i]}"; d=$REPLY; js "${F_NOTE[$i]}"
      printf '%s\n    {"benchmark": %s, "figure": %s, "value": %s, "unit": %s, "note": %s}' \
        "$sep" "$a" "$b" "$c" "$d" "$REPLY"
      sep=,
    done
    printf '\n  ]\n}\n'
  } > "$OUT/report.json.tmp"
  mv "$OUT/report.md.tmp" "$OUT/report.md" && mv "$OUT/report.json.tmp" "$OUT/report.json"
}

# ---- run: the environment ----------------------------------------------------------------------------

# Directories holding the CUDA libraries: the toolkit, the system, and the Python site-packages' nvidia/
# wheels (PyTorch's cuDNN, cuBLAS, NCCL). Sets CUDA_LIB_DIRS and records where each library was found.
find_cuda_libs() {
  local roots=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
  local py s name f found=""
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null || continue
    while read -r s; do [ -d "$s/nvidia" ] && roots+=("$s/nvidia"); done < <(timeout 20 "$py" -c \
      'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
  done
  CUDA_LIB_DIRS=""
  # cuDNN 9 loads its engine libraries (and NVRTC for runtime-compiled kernels) from the same path.
  local all
  all=$(find -L "${roots[@]}" \( -name 'libcudnn.so.9' -o -name 'libcublas*.so.13' -o -name 'libnccl.so.2' \
        -o -name 'libnvrtc.so.13' \) 2>/dev/null)
  for name in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libnccl.so.2 libnvrtc.so.13; do
    f=$(grep -m 1 "/$name\$" <<<"$all")
    if [ -n "$f" ]; then
      found+="$name: $f; "
      case ":$CUDA_LIB_DIRS:" in *":$(dirname "$f"):"*) ;; *) CUDA_LIB_DIRS="$CUDA_LIB_DIRS:$(dirname "$f")" ;; esac
    else
      found+="$name: not found; "
    fi
  done
  CUDA_LIB_DIRS=${CUDA_LIB_DIRS#:}
  env_add "CUDA libraries found" "${found%; }"
}

environment() {
  local smi gpus
  if command -v nvidia-smi >/dev/null; then
    gpus=$(timeout 30 nvidia-smi -L 2>&1)
    grep -q '^GPU [0-9]' <<<"$gpus" && HAS_GPU=1
    smi=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1)
    env_add "GPU (nvidia-smi)" "$([ $HAS_GPU = 1 ] && echo "$smi" || echo "none: $gpus")"
  else
    env_add "GPU (nvidia-smi)" "none: nvidia-smi not found"
  fi
  env_add "glibc" "$(ldd --version 2>&1 | head -n 1)"
  env_add "kernel, CPUs" "$(uname -r), $(nproc) cores"
  env_add "sources" "$SRC ($(git -C "$SRC" log -1 --format='%h %cs' 2>/dev/null || echo 'not a git checkout'))"
  find_cuda_libs
  ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH="${CUDA_LIB_DIRS:+$CUDA_LIB_DIRS:}$BUNDLE/lib${ORIG_LD_LIBRARY_PATH:+:$ORIG_LD_LIBRARY_PATH}"
  env_add "LD_LIBRARY_PATH (minidl's programs)" "$LD_LIBRARY_PATH"
  env_add "libminidl.so resolves" "$(ldd "$BUNDLE/lib/libminidl.so" 2>&1 | grep -E 'cudnn|cublas|nccl|libz|not found' | sed 's/ (0x[0-9a-f]*)//; s/^\s*//' | tr '\n' ';')"
  local f
  SANITIZER=$(command -v compute-sanitizer)
  for f in /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
           /opt/nvidia/*/compute-sanitizer; do
    [ -z "$SANITIZER" ] && [ -x "$f" ] && SANITIZER=$f
  done
  env_add "compute-sanitizer" "${SANITIZER:-not found}"
  env_add "python3" "$(command -v python3 || echo 'not found') $(python3 --version 2>&1)"
  # The tests find their data and scripts from here (ctest sets the same, tests/CMakeLists.txt), and the
  # integration tests run the bundle's minidl_train.
  export MINIDL_SOURCE_DIR=$SRC MINIDL_TRAIN_BIN=$BUNDLE/bin/minidl_train
}

# ---- run: the steps ------------------------------------------------------------------------------------

# Runs "$@" under a timeout of min(CAP, time left); sets RC, SECS and CUT (1 when the deadline, not
# the cap, stopped it). Output to LOG.
timed() {
  local cap=$1 log=$2 left t0=$SECONDS
  shift 2
  left=$(time_left)
  LIMIT=$((cap < left ? cap : left)) CUT=0
  # In the background, so that a signal to this script (the caller's own time limit) is handled at
  # once: bash runs traps only between foreground commands, and timeout gives the step a group of its own.
  timeout -k 10 "$LIMIT" "$@" > "$log" 2>&1 &
  STEP_PID=$!
  wait $STEP_PID
  RC=$?
  STEP_PID=""
  SECS=$((SECONDS - t0))
  if [ $RC -eq 124 ] || [ $RC -eq 137 ]; then [ "$LIMIT" -lt "$cap" ] && CUT=1; fi
}

# Enough time left to start a step? Otherwise records it as not run.
have_time() {
  local left
  left=$(time_left)
  [ "$left" -ge "${MIN_STEP_S:-10}" ] && return 0
  not_run "$1" "$2" "deadline ($((left < 0 ? 0 : left)) s left of ${DEADLINE} s)"
  return 1
}

# Counts of one gtest run: sets G_PASSED G_FAILED G_SKIPPED G_SOURCE G_FAILS G_SKIPS G_UNFINISHED.
gtest_counts() {
  local json=$1 log=$2 out
  G_FAILS="" G_SKIPS="" G_UNFINISHED=""
  if command -v python3 >/dev/null && out=$(python3 "$SRC/tools/gtest_summary.py" "$json" "$log"); then
    read -r _ G_PASSED G_FAILED G_SKIPPED G_SOURCE <<<"$(grep '^counts' <<<"$out")"
    G_FAILS=$(sed -n 's/^failed\t//p' <<<"$out")
    G_SKIPS=$(sed -n 's/^skipped\t//p' <<<"$out")
    G_UNFINISHED=$(sed -n 's/^unfinished\t//p' <<<"$out")
  else  # no python3: the per-test lines of the log (each name once: the ones with a time)
    G_PASSED=$(grep -cE '^\[       OK \] \S+ \(' "$log") G_FAILED=$(grep -cE '^\[  FAILED  \] \S+ \(' "$log")
    G_SKIPPED=$(grep -cE '^\[  SKIPPED \] \S+ \(' "$log") G_SOURCE="log (no python3)"
    G_FAILS=$(sed -n 's/^\[  FAILED  \] \(\S*\) (.*/\1\t/p' "$log")
  fi
}

# suite STEP BINARY CAP [ARGS]: one gtest binary of the bundle.
suite() {
  local step=$1 name=$2 cap=$3 status result note=""
  shift 3
  have_time "$step" "$name" || return 0
  local log="$OUT/logs/$name.log" json="$OUT/logs/$name.json"
  rm -f "$json"
  timed "$cap" "$log" "$BUNDLE/bin/$name" --gtest_output="json:$json" "$@"
  gtest_counts "$json" "$log"
  [ "$G_SOURCE" = json ] || note="no gtest JSON (cut, crashed or timed out, or no python3): counted from the log"
  [ -n "$G_UNFINISHED" ] && note+="; running when it ended: $G_UNFINISHED"
  if [ $CUT = 1 ]; then
    status=cut result="cut: deadline (after $SECS s)"
  elif [ $RC -eq 124 ] || [ $RC -eq 137 ]; then
    status=failed result="FAILED: timed out after $SECS s (cap $cap s)"
  elif [ "$G_FAILED" -gt 0 ] || [ $RC -ne 0 ]; then
    status=failed result="FAILED (exit $RC)"
  elif [ "$G_PASSED" -eq 0 ] && [ "$G_SKIPPED" -gt 0 ]; then
    status=skipped result="skipped: $(head -n 1 <<<"$G_SKIPS" | cut -f2)"
    [ "$(wc -l <<<"$G_SKIPS")" -gt 1 ] && result+=" (and other reasons)"
  else
    status=passed result=passed
    [ "$G_SKIPPED" -gt 0 ] && note="${note:+$note; }$G_SKIPPED skipped: $(cut -f2 <<<"$G_SKIPS" | head -n 1)"
  fi
  [ "$name" = minidl_test_cuda ] && CUDA_PASSED=$G_PASSED
  row "$step" "$name" "$status" "$result" "$G_PASSED" "$G_FAILED" "$G_SKIPPED" "$SECS" "$note" \
      "$G_FAILS" "$G_SKIPS" "logs/$name.log"
}

# The memcheck subset: the kernel twins, the fused SGD and augmentation twins, the allocator and
# streams, and the layer twins whose kernels are ours or cuDNN's plain paths. Left out: the timed
# algorithm searches (cudnnFind runs every algorithm: minutes under memcheck), LayerTwin.Blocks (whole
# residual blocks: the same kernels again, many times) and the large random fills (bit-identity, not
# memory). On a GPU the whole subset is seconds; under memcheck, expected about a minute.
MEMCHECK_FILTER='CudaTwin.*:CudaCore.*:CudaSgdTwin.*:CudaAugment.*:LayerTwin.Conv2d:LayerTwin.BatchNorm:LayerTwin.Pooling:LayerTwin.ElementwiseLayers:LayerTwin.SoftmaxCrossEntropy:-CudaTwin.RandomFillsAreBitIdentical'

memcheck() {
  local step=2 name="memcheck (compute-sanitizer)"
  [ $HAS_GPU = 1 ] || { not_run $step "$name" "no GPU (nvidia-smi lists none)"; return 0; }
  [ -n "$SANITIZER" ] || { not_run $step "$name" "compute-sanitizer not found"; return 0; }
  have_time $step "$name" || return 0
  local log="$OUT/logs/memcheck.log" json="$OUT/logs/memcheck.json" summary errors status result
  # Judged by its ERROR SUMMARY (memory errors alone: --report-api-errors no, since a CUDA call that
  # returns an error makes the test itself fail in step 1), not by its exit code, which gtest sets.
  timed 200 "$log" "$SANITIZER" --tool memcheck --report-api-errors no "$BUNDLE/bin/minidl_test_cuda" \
    --gtest_filter="$MEMCHECK_FILTER" --gtest_output="json:$json"
  gtest_counts "$json" "$log"
  summary=$(grep -E 'ERROR SUMMARY' "$log" | tail -n 1 | sed 's/^=* *//')
  errors=$(sed -n 's/^ERROR SUMMARY: \([0-9]*\) error.*/\1/p' <<<"$summary")
  if [ -n "$errors" ] && [ "$errors" -eq 0 ]; then status=passed result="passed: $summary"
  elif [ -n "$errors" ]; then status=failed result="FAILED: $summary"
  elif [ $CUT = 1 ]; then status=cut result="cut: deadline (after $SECS s), no ERROR SUMMARY"
  else status=failed result="FAILED: no ERROR SUMMARY (exit $RC after $SECS s)"
  fi
  row $step "$name" "$status" "$result" "$G_PASSED" "$G_FAILED" "$G_SKIPPED" "$SECS" \
      "gtest filter: $MEMCHECK_FILTER; the tests' own verdicts are step 1's" "$G_FAILS" "$G_SKIPS" "logs/memcheck.log"
}

# A benchmark program's row (passed when it exited 0) and its figures (parsed by AWK_PROGRAM from the
# log's GPU section). bench NAME CAP AWK_PROGRAM COMMAND... PyTorch's programs (NAME *pytorch*, torch_*)
# failing are reported, but they are not minidl's failures: status "failed (PyTorch)", not "failed".
bench() {
  local name=$1 cap=$2 prog=$3 status result n v u note failed=failed
  shift 3
  case $name in *pytorch* | torch_*) failed="failed (PyTorch)" ;; esac
  have_time 3 "$name" || return 1
  local log="$OUT/logs/$name.log"
  timed "$cap" "$log" "$@"
  if [ $CUT = 1 ]; then status=cut result="cut: deadline (after $SECS s)"
  elif [ $RC -eq 0 ]; then status=passed result=ran
  else status=$failed result="FAILED (exit $RC): $(tail -n 1 "$log")"
  fi
  local figures=${#F_NAME[@]}
  while IFS=$'\t' read -r n v u note; do [ -n "$n" ] && figure "$name" "$n" "$v" "$u" "$note"; done \
    < <(awk "$prog" "$log")
  # A program that found no GPU says so and exits 0: without figures it did not do its job.
  if [ "$status" = passed ] && [ ${#F_NAME[@]} -eq "$figures" ]; then
    status=$failed result="FAILED: no figures in its output: $(tail -n 1 "$log")"
  fi
  row 3 "$name" "$status" "$result" "" "" "" "$SECS" "" "" "" "logs/$name.log"
  [ "$status" = passed ]
}

# shellcheck disable=SC2016  # AWK programs: their $ are AWK's
# The GPU section of minidl_bench_kernels: cuBLAS GEMM TFLOP/s, element-wise GB/s (% of a copy).
AWK_KERNELS='/^== cuda/ { gpu = 1; next } !gpu { next }
  /TFLOP\/s/ { n = $1; sub(":", "", n); printf "cuBLAS GEMM f32 %sx%s\t%s\tTFLOP/s\t%s %s\n", n, n, $2, $4, $5 }
  / GB\/s( |$)/ { i = index($0, " GB/s"); h = substr($0, 1, i - 1); v = h; sub(/.* /, "", v); sub(/ +[0-9.]+$/, "", h)
              sub(/^ +/, "", h); r = substr($0, i + 5); sub(/^ +/, "", r); printf "%s\t%s\tGB/s\t%s\n", h, v, r }'
# shellcheck disable=SC2016
# minidl_bench_sgd on the GPU: the copy and axpy references, then the fused step rows.
AWK_SGD='/^== cuda/ { gpu = 1; next } !gpu { next }
  / GB\/s$/ { v = $(NF - 1); h = $0; sub(/ +[0-9.]+ GB\/s$/, "", h); sub(/^ +/, "", h); printf "%s\t%s\tGB/s\t\n", h, v }
  $3 == "values" { printf "fused SGD step %s %s (moved bytes)\t%s\tGB/s\t%s of copy, %s ms, update %s GB/s\n", $1, $2, $(NF - 1), $NF, $6, $(NF - 2) }'
# shellcheck disable=SC2016
# minidl_bench_allreduce over NCCL: algbw per size (one GPU: the NCCL path runs, the figure is a
# device copy's; busbw, 2(n-1)/n x algbw, is 0 at one rank).
AWK_ALLREDUCE='/^ +[0-9]+ [KMG]B / { printf "NCCL all-reduce f32 %s %s, %s\t%s\tGB/s\talgbw, %s us\n", $1, $2, ranks, $6, $5 }
  /^minidl all-reduce benchmark/ { ranks = $6 " rank(s)" }'
# shellcheck disable=SC2016
# minidl_bench_models / torch_models.py: the img/s of the row.
# (fmt: the memory format, named after the batch.)
AWK_MODELS='/ img\/s / { b = $4; sub(":", "", b)
  for (i = 1; i < NF; i++) if ($(i + 1) == "img/s") { printf "%s batch %s %s\t%s\timg/s\t\n", $1, b, fmt, $i; exit } }'

# Three models' training img/s, in three configurations: f32 NCHW; f32 channels-last (each network
# NHWC throughout, PyTorch's model.to(memory_format=torch.channels_last)); and bf16_graph, minidl's
# fast path (channels-last, --precision bf16, --cuda-graph) beside PyTorch's eager AMP
# (channels-last, bf16 autocast). minidl's, then PyTorch's where python3 has torch with CUDA. The
# later configurations come last, so the deadline cuts them first.
models() {
  local fmt spec m b n v_m v_t args=(--device cuda --warmup 2 --runs 3 --iters 5) awk_fmt
  local m_flags t_flags
  for fmt in contiguous channels_last bf16_graph; do
    if [ "$fmt" = bf16_graph ]; then
      m_flags=(--memory-format channels_last --precision bf16 --cuda-graph)
      t_flags=(--memory-format channels_last --amp)
    else
      m_flags=(--memory-format "$fmt") t_flags=(--memory-format "$fmt")
    fi
    awk_fmt="BEGIN { fmt = \"$fmt\" } $AWK_MODELS"
    for spec in resnet56:512 resnet50:256 wrn28_10:128; do
      m=${spec%:*} b=${spec#*:}
      v_m="" v_t="" n=${#F_VALUE[@]}
      bench "models_${m}_bs${b}_${fmt}_minidl" 120 "$awk_fmt" "$BUNDLE/bin/minidl_bench_models" \
        --models "$m" --batch "$b" --min-time 0 "${m_flags[@]}" "${args[@]}" &&
        [ ${#F_VALUE[@]} -gt "$n" ] && v_m=${F_VALUE[$n]}
      if [ "$TORCH_CUDA" = 1 ]; then
        # PyTorch with its own library paths (its wheels' RPATHs), not the bundle's.
        n=${#F_VALUE[@]}
        bench "models_${m}_bs${b}_${fmt}_pytorch" 120 "$awk_fmt" env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" \
          python3 "$SRC/tools/bench/torch_models.py" --models "$m" --batch "$b" --min-time 0 \
          "${t_flags[@]}" "${args[@]}" && [ ${#F_VALUE[@]} -gt "$n" ] && v_t=${F_VALUE[$n]}
      else
        not_run 3 "models_${m}_bs${b}_${fmt}_pytorch" "$TORCH_WHY"
      fi
      if [ -n "$v_m" ] && [ -n "$v_t" ]; then
        figure models "$m batch $b $fmt minidl / PyTorch" \
          "$(awk -v a="$v_m" -v b="$v_t" 'BEGIN { printf "%.2f", a / b }')" ratio
        write_report
      fi
    done
  done
}

benchmarks() {
  local b
  if [ $HAS_GPU = 0 ]; then
    for b in bench_kernels bench_sgd allreduce_nccl models; do not_run 3 "$b" "no GPU (nvidia-smi lists none)"; done
    return 0
  fi
  bench bench_kernels 90 "$AWK_KERNELS" "$BUNDLE/bin/minidl_bench_kernels" --gpu-only
  bench bench_sgd 60 "$AWK_SGD" "$BUNDLE/bin/minidl_bench_sgd" --gpu-only
  # One rank on one GPU (the machine has one): the NCCL backend's first run; scaling needs more GPUs.
  bench allreduce_nccl 60 "$AWK_ALLREDUCE" "$BUNDLE/bin/minidl_bench_allreduce" --backend nccl \
    --min-bytes 1048576 --max-bytes 268435456
  TORCH_CUDA=0 TORCH_WHY="no python3"
  command -v python3 >/dev/null && TORCH_WHY="deadline (no time left to look for PyTorch)"
  if command -v python3 >/dev/null && have_time 3 "PyTorch check"; then
    local t
    timed 90 "$OUT/logs/torch_check.log" env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 -c \
      'import torch; print(torch.__version__, torch.cuda.is_available(), torch.backends.cudnn.version())'
    t=$(tail -n 1 "$OUT/logs/torch_check.log")
    env_add "PyTorch (python3)" "$t"
    case "$t" in
      *" True "*) TORCH_CUDA=1 ;;
      *" False "*) TORCH_WHY="python3's torch has no CUDA ($t)" ;;
      *) TORCH_WHY="python3 has no torch ($t)" ;;
    esac
  fi
  models
  # PyTorch's rows for the kernels (its cuBLAS GEMM, its element-wise kernels), last: the least needed.
  if [ "$TORCH_CUDA" = 1 ]; then
    bench torch_kernels 60 "BEGIN { gpu = 1 } $AWK_KERNELS" env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" \
      python3 "$SRC/tools/bench/torch_kernels.py" --device cuda
  else
    not_run 3 torch_kernels "$TORCH_WHY"
  fi
}

interrupted() {
  [ -n "${STEP_PID:-}" ] && kill -TERM "$STEP_PID" 2>/dev/null && wait "$STEP_PID" 2>/dev/null
  VERDICT=INTERRUPTED VERDICT_WHY="stopped by a signal after $(elapsed) s; the steps above ran, the rest did not"
  write_report
  exit 143
}

verdict() {
  local i why=() incomplete=0
  for i in "${!R_NAME[@]}"; do
    case "${R_STATUS[$i]}" in
      failed) why+=("${R_NAME[$i]} failed") ;;
      "not run" | cut)
        incomplete=$((incomplete + 1))
        # Without a GPU the CPU suites are all there is to verify: they must run.
        [ $HAS_GPU = 0 ] && [ "${R_STEP[$i]}" = 4 ] && why+=("${R_NAME[$i]}: ${R_RESULT[$i]}") ;;
    esac
  done
  [ $HAS_GPU = 1 ] && [ "$CUDA_PASSED" -eq 0 ] && why+=("a GPU is present but no CUDA test passed")
  if [ ${#why[@]} -gt 0 ]; then
    VERDICT=FAIL VERDICT_WHY=$(printf '%s; ' "${why[@]}") VERDICT_WHY=${VERDICT_WHY%; }
  else
    VERDICT=PASS
    VERDICT_WHY="nothing failed"
    [ $HAS_GPU = 1 ] || VERDICT_WHY+="; no GPU: the CUDA tests skipped, the CPU suites passed"
    [ $incomplete -gt 0 ] && VERDICT_WHY+="; $incomplete steps not run or cut (see Not run)"
  fi
  write_report
}

run() {
  OUT=${1:?usage: tools/gpu_check.sh run OUTDIR}
  DEADLINE=${GPU_CHECK_DEADLINE:-480}
  [[ $DEADLINE =~ ^[0-9]+$ ]] || { echo "GPU_CHECK_DEADLINE must be seconds, got '$DEADLINE'" >&2; return 2; }
  case $OUT in /*) ;; *) OUT=$CALLER_DIR/$OUT ;; esac
  mkdir -p "$OUT/logs" && OUT=$(cd "$OUT" && pwd)
  case $BUNDLE in /*) ;; *) BUNDLE=$SRC/$BUNDLE ;; esac
  T0=$SECONDS STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if [ ! -x "$BUNDLE/bin/minidl_test_cuda" ]; then
    VERDICT=FAIL VERDICT_WHY="no $BUNDLE: run 'tools/gpu_check.sh build' first and carry it"
    write_report
    cat "$OUT/report.md"
    return 1
  fi
  # Stopped from outside: end the running step (timeout passes the signal on), say so, keep the report.
  trap 'interrupted' TERM INT HUP
  environment
  write_report
  # 1. the CUDA twins
  suite 1 minidl_test_cuda 150
  # 2. memcheck over a subset of them
  memcheck
  # 3. the GPU benchmarks
  benchmarks
  # 4. the CPU suites while time remains (the quick ones first)
  local s cap
  for s in core kernels layers optim models data cli sweep reference integration; do
    [ -x "$BUNDLE/bin/minidl_test_$s" ] || continue
    case $s in integration) cap=240 ;; reference) cap=150 ;; *) cap=120 ;; esac
    suite 4 "minidl_test_$s" $cap
  done
  verdict
  cat "$OUT/report.md"
  [ $VERDICT = PASS ]
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/gpu_check.sh build | run OUTDIR   (GPU_CHECK_DEADLINE=seconds, default 480)" >&2; exit 2 ;;
esac
