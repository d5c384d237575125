#!/usr/bin/env bash
# Verifies minidl's CUDA code on a GPU machine in one short run (DESIGN.md §10, docs/gpu.md).
#
#   tools/gpu_check.sh build          here: a CUDA build for sm_90 in build-gpu/, then build-gpu/bundle/
#                                     (bin/ + lib/, stripped, < 64 MiB) whose binaries need only the C
#                                     library and cuBLAS/cuDNN/NCCL; prints ldd and the size
#   tools/gpu_check.sh run OUTDIR     there (bundle carried beside the sources): finds cuDNN/cuBLAS/NCCL,
#                                     runs the cuda-labelled tests, the CPU suites, a compute-sanitizer
#                                     memcheck pass on a subset and the GPU benchmarks beside PyTorch's;
#                                     writes OUTDIR/report.md and logs
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=build-gpu/bundle
# What our files may ask for directly (ELF NEEDED): the C library and the CUDA libraries the GPU machine
# provides. (cuBLAS itself needs libstdc++ and libgcc_s, which every machine with PyTorch has.)
ALLOWED='^(ld-linux|libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|libcublas|libcublasLt|libcudnn|libnccl|libminidl)'

build() {
  set -e
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=ON \
    -DMINIDL_CUDA_ARCHITECTURES=90 -DMINIDL_PORTABLE=ON -DMINIDL_MPI=OFF >/dev/null
  cmake --build build-gpu -j "${JOBS:-$(nproc)}"
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
  cp build-gpu/libminidl.so "$BUNDLE/lib/"
  find build-gpu/tests build-gpu/tools -maxdepth 1 -type f -name 'minidl_*' -perm -u+x -exec cp {} "$BUNDLE/bin/" \;
  strip --strip-unneeded "$BUNDLE"/lib/*.so "$BUNDLE"/bin/*
  echo "== ldd libminidl.so"
  LD_LIBRARY_PATH="$BUNDLE/lib" ldd "$BUNDLE/lib/libminidl.so" | sed 's/ (0x[0-9a-f]*)//'
  echo "== direct needs (ELF NEEDED) of every file; anything outside the allowed set is an error"
  bad=0
  for f in "$BUNDLE"/lib/*.so "$BUNDLE"/bin/*; do
    needed=$(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "   $(basename "$f"): $needed"
    for lib in $needed; do
      grep -Eq "$ALLOWED" <<<"$lib" || { echo "   NOT ALLOWED: $lib"; bad=1; }
    done
  done
  size=$(du -sm "$BUNDLE" | cut -f1)
  echo "== bundle: $BUNDLE, ${size} MiB"
  [ "$size" -lt 64 ] || { echo "bundle too large for the device tool (64 MiB)"; bad=1; }
  return $bad
}

# Directories holding the CUDA libraries: the toolkit, the system, and PyTorch's nvidia/ wheels.
find_cuda_libs() {
  local roots=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
  local py
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null || continue
    while read -r s; do [ -d "$s/nvidia" ] && roots+=("$s/nvidia"); done < <("$py" -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null)
  done
  local dirs="" name f
  for name in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
    f=$(find -L "${roots[@]}" -name "$name" 2>/dev/null | head -n 1)
    if [ -n "$f" ]; then
      case ":$dirs:" in *":$(dirname "$f"):"*) ;; *) dirs="$dirs:$(dirname "$f")" ;; esac
    else echo "warning: $name not found" >&2; fi
  done
  echo "${dirs#:}"
}

run() {
  local out=${1:?usage: tools/gpu_check.sh run OUTDIR}
  mkdir -p "$out"
  [ -d "$BUNDLE/bin" ] || { echo "no $BUNDLE: run 'tools/gpu_check.sh build' first and carry it" | tee "$out/report.md"; return 1; }
  export LD_LIBRARY_PATH="$(find_cuda_libs):$PWD/$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local report="$out/report.md" status=0
  {
    echo "# minidl GPU check — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo; echo '```'
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    ldd --version | head -n 1
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH" ldd "$BUNDLE/lib/libminidl.so" | grep -E 'cudnn|cublas|nccl|not found'
    echo '```'
  } > "$report"

  echo "## Tests" >> "$report"
  : > "$out/tests.log"
  local t log rc
  for t in "$BUNDLE/bin/minidl_test_cuda" $(ls "$BUNDLE"/bin/minidl_test_* | grep -v '_cuda$'); do
    log=$(timeout 600 "$t" 2>&1)
    rc=$?
    printf '== %s (exit %s)\n%s\n' "$(basename "$t")" "$rc" "$log" >> "$out/tests.log"
    echo "- $(basename "$t"): exit $rc — $(grep -cE '^\[       OK \]' <<<"$log") passed," \
         "$(grep -cE '^\[  FAILED  \] [A-Za-z]' <<<"$log") failed, $(grep -cE '^\[  SKIPPED \] [A-Za-z]' <<<"$log") skipped" >> "$report"
    grep -E '^\[  FAILED  \] [A-Za-z]' <<<"$log" | sed 's/^/  - /' >> "$report"
    [ $rc -eq 0 ] || status=1
    if [ "$(basename "$t")" = minidl_test_cuda ] && ! grep -qE '^\[       OK \]' <<<"$log"; then
      echo "  - no CUDA test ran: is there a GPU?" >> "$report"
      status=1
    fi
  done

  echo "## compute-sanitizer memcheck (subset)" >> "$report"
  local san
  san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
        /usr/local/cuda*/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -n "$san" ]; then
    timeout 300 "$san" --tool memcheck --error-exitcode 9 "$BUNDLE/bin/minidl_test_cuda" \
      --gtest_filter='CudaTwin.*:LayerTwin.*:CudaSgdTwin.*:CudaAugment.*:-CudaTwin.RandomFillsAreBitIdentical' > "$out/memcheck.log" 2>&1
    local rc=$?
    echo "- exit $rc; $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tail -n 1)" >> "$report"
    [ $rc -eq 0 ] || status=1
  else
    echo "- compute-sanitizer not found" >> "$report"
  fi

  echo "## Benchmarks" >> "$report"
  { echo '```'; timeout 300 "$BUNDLE/bin/minidl_bench_kernels" --gpu-only 2>&1; echo '```'; } > "$out/bench.log"
  { echo '```'; timeout 120 "$BUNDLE/bin/minidl_bench_sgd" --gpu-only 2>&1; echo '```'; timeout 300 python3 tools/bench/compare_models.py --bench "$BUNDLE/bin/minidl_bench_models" --device cuda --rounds 1 2>&1; } >> "$out/bench.log"
  { echo '```'; timeout 300 python3 tools/bench/torch_kernels.py --device cuda 2>&1; echo '```'; } > "$out/bench_torch.log"
  cat "$out/bench.log" "$out/bench_torch.log" >> "$report"
  echo; echo "status: $([ $status -eq 0 ] && echo PASS || echo FAIL)" >> "$report"
  cat "$report"
  return $status
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/gpu_check.sh build | run OUTDIR" >&2; exit 2 ;;
esac
