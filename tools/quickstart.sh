#!/usr/bin/env bash
# README command (1): installs what is missing, builds minidl (Release) and runs the main job.
# Until minidl_train exists, the main job is the kernel benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_TESTS=OFF >/dev/null
cmake --build build/release -j "$JOBS"
build/release/tools/minidl_bench_kernels
