#!/usr/bin/env bash
# README command (2): installs what is missing, builds the CUDA configuration (when nvcc is present:
# every .cu compiles and links, and CUDA tests skip without a GPU) and the CPU-only configuration,
# and runs every test of both with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
JOBS=${JOBS:-$(nproc)}

configs=()
if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
  configs+=(cuda)
else
  echo "test: no nvcc found: building the CPU-only configuration alone"
fi
configs+=(cpu)

for c in "${configs[@]}"; do
  flag=OFF
  [ "$c" = cuda ] && flag=ON
  echo "== build/$c (MINIDL_CUDA=$flag)"
  cmake -S . -B "build/$c" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=$flag >/dev/null
  cmake --build "build/$c" -j "$JOBS"
done

status=0
for c in "${configs[@]}"; do
  echo "== ctest build/$c"
  (cd "build/$c" && ctest --output-on-failure -j "$JOBS") || status=1
done
exit $status
