#!/usr/bin/env bash
# README command (2): installs what is missing, then builds and tests minidl's configurations:
#   build/cuda      MINIDL_CUDA=ON, when nvcc is present: every .cu compiles and links, and the
#                   CUDA tests skip without a GPU
#   build/cpu       MINIDL_CUDA=OFF, Release
#                   (these two are then installed, and examples/custom_op is built and tested against
#                   the install: tools/check_install.sh)
#   build/sanitize  MINIDL_CUDA=OFF, -O1, ASan + UBSan + LeakSanitizer: every test but the cuda
#                   ones (mpi: without the leak check), failing on any report (docs/building.md, "Sanitizers")
#   build/fuzz      clang + libFuzzer, when clang++ is present: each parser's fuzz target for
#                   FUZZ_SECONDS (30) from its committed inputs (tools/fuzz.sh, docs/fuzzing.md)
#   build-gpu       the GPU machine's bundle, when nvcc is present (tools/gpu_check.sh build: sm_90,
#                   static runtimes), then tools/gpu_check.sh run build-gpu/check here: the bundle's
#                   CUDA tests skip (no GPU) and its CPU suites must pass (docs/gpu.md)
# Usage: tools/test.sh                all five (what CI runs: .ci/run)
#        tools/test.sh --sanitize     build/sanitize alone
#        tools/test.sh --fuzz         build/fuzz alone
#        tools/test.sh --gpu-bundle   build-gpu alone
#        tools/test.sh --no-sanitize  build/cuda and build/cpu alone (the quicker check)
set -euo pipefail
cd "$(dirname "$0")/.."

want_plain=1
want_sanitize=1
want_fuzz=1
want_bundle=1
case "${1:-}" in
  "") ;;
  --sanitize) want_plain=0 want_fuzz=0 want_bundle=0 ;;
  --fuzz) want_plain=0 want_sanitize=0 want_bundle=0 ;;
  --gpu-bundle) want_plain=0 want_sanitize=0 want_fuzz=0 ;;
  --no-sanitize) want_sanitize=0 want_fuzz=0 want_bundle=0 ;;
  *) echo "test: unknown argument '$1' (known: --sanitize, --fuzz, --gpu-bundle, --no-sanitize)" >&2; exit 2 ;;
esac

tools/setup.sh
JOBS=${JOBS:-$(nproc)}

configs=()
if [ $want_plain = 1 ]; then
  if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
    configs+=(cuda)
  else
    echo "test: no nvcc found: building the CPU-only configuration alone"
  fi
  configs+=(cpu)
fi
[ $want_sanitize = 1 ] && configs+=(sanitize)

for c in "${configs[@]}"; do
  case "$c" in
    cuda) args=(-DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=ON) ;;
    cpu) args=(-DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=OFF) ;;
    # -O1: ASan's recommended level (-O0 makes the training tests several times slower, -O2 blurs
    # the reports' lines). -g1: line tables and function names, all a report's stack needs (inlined
    # frames included), and the heavy CLI files compile ~30% faster than with -g.
    # _GLIBCXX_ASSERTIONS: libstdc++ checks indices (vector[i] past size() but within capacity,
    # which ASan cannot see).
    # Sanitizers instrument host code only, so no CUDA.
    sanitize) args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1 -D_GLIBCXX_ASSERTIONS"
                    -DMINIDL_CUDA=OFF -DMINIDL_SANITIZE=address,undefined,float-cast-overflow) ;;
  esac
  echo "== build/$c (${args[*]})"
  start=$SECONDS
  cmake -S . -B "build/$c" -G Ninja "${args[@]}" >/dev/null
  cmake --build "build/$c" -j "$JOBS"
  echo "== build/$c built in $((SECONDS - start)) s"
done

status=0
for c in "${configs[@]}"; do
  echo "== ctest build/$c"
  start=$SECONDS
  if [ "$c" = sanitize ]; then
    # The run-time options: fail on the first report, leaks included. Tests labelled cuda only skip
    # in a CPU-only build, so they are left out. The mpi test (two ranks under mpirun) runs apart,
    # with ASan and UBSan but without the leak check: Open MPI 4.1 itself leaks what MPI_Init
    # allocates (LeakSanitizer reports it for a program that only calls MPI_Init, MPI_Allreduce and
    # MPI_Finalize: ompi_op_base_op_select, opal_argv_append_nosize, components it has unloaded),
    # and suppressing another library's internals by name would be a list to keep in step with
    # every Open MPI release. Our own allocations are leak-checked by the dist suite above.
    (source tools/sanitize/env.sh && cd "build/$c" &&
      ctest --output-on-failure -j "$JOBS" -LE 'cuda|mpi' &&
      ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ctest --output-on-failure -L mpi) || status=1
  else
    (cd "build/$c" && ctest --output-on-failure -j "$JOBS") || status=1
  fi
  echo "== ctest build/$c took $((SECONDS - start)) s"
  if [ "$c" != sanitize ]; then
    # The build as a user who extends minidl meets it: installed, examples/custom_op built against
    # it and tested, the installed minidl_train training with the example's plugin.
    start=$SECONDS
    JOBS=$JOBS tools/check_install.sh "build/$c" || status=1
    echo "== check_install build/$c took $((SECONDS - start)) s"
  fi
done
if [ $want_bundle = 1 ]; then
  if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
    # The bundle the GPU machine gets, run where it was built: the first place it runs at all.
    echo "== build-gpu: tools/gpu_check.sh build, then run build-gpu/check"
    start=$SECONDS
    JOBS=$JOBS tools/gpu_check.sh build || status=1
    echo "== build-gpu built in $((SECONDS - start)) s"
    start=$SECONDS
    rm -rf build-gpu/check
    tools/gpu_check.sh run build-gpu/check || status=1
    echo "== gpu_check.sh run took $((SECONDS - start)) s"
  else
    echo "test: no nvcc: the GPU machine's bundle (build-gpu) is not built"
  fi
fi
if [ $want_fuzz = 1 ]; then
  if command -v clang++ >/dev/null 2>&1; then
    echo "== fuzz build/fuzz, ${FUZZ_SECONDS:-30} s per target"
    start=$SECONDS
    tools/fuzz.sh "${FUZZ_SECONDS:-30}" || status=1
    echo "== fuzz took $((SECONDS - start)) s"
  else
    echo "test: no clang++: the fuzz targets are not built (tools/setup.sh installs clang)"
  fi
fi
exit $status
