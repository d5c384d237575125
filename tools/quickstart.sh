#!/usr/bin/env bash
# README command (1): installs what is missing, builds minidl (Release) and runs the main job, the
# Fashion-MNIST demo (tools/demo.sh): an LR range test, a 1cycle run with cyclical momentum between the
# suggested bounds, the plots, and the final test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh --run  # the tests' packages (PyTorch, clang, MPI, GoogleTest) are tools/test.sh's
JOBS=${JOBS:-$(nproc)}
# CUDA code is compiled when a GPU can run it; otherwise the CPU-only build is faster to make.
cuda=OFF
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then cuda=AUTO; fi
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_TESTS=OFF -DMINIDL_CUDA=$cuda >/dev/null
# Only the program the demo runs (the benchmarks build with tools/test.sh or a plain cmake --build).
cmake --build build/release -j "$JOBS" --target minidl_train
tools/demo.sh build/release runs/demo
