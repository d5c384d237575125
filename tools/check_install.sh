#!/usr/bin/env bash
# Checks an installed minidl from the outside, as a user who extends it would (docs/plugins.md):
#   1. cmake --install BUILD into a fresh prefix
#   2. configure and build examples/custom_op against it with find_package(minidl)
#   3. run the example's tests (SiLU against PyTorch's values, gradient checks, the CUDA twin where
#      a GPU is, the plugin loaded by path)
#   4. the installed minidl_train, with --plugin, trains the plugin's model for a few iterations on
#      Fashion-MNIST, and the eval verb scores its weights
#   5. a C++ program links and runs: with find_package(minidl) and minidl::minidl_static, and with
#      pkg-config alone (the shared library)
# Usage: tools/check_install.sh BUILD_DIR     (tools/test.sh runs it on build/cpu and build/cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tools/check_install.sh BUILD_DIR}
work=$(mktemp -d /tmp/minidl_install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

echo "== install $build -> $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/minidl_train lib/libminidl.so lib/libminidl.a include/minidl/core/tensor.h \
         include/minidl/core/plugin.h lib/cmake/minidl/minidlConfig.cmake \
         lib/cmake/minidl/minidlConfigVersion.cmake lib/pkgconfig/minidl.pc \
         share/minidl/tools/plot_range_test.py; do
  [ -e "$prefix/$f" ] || { echo "check_install: $prefix/$f is missing" >&2; exit 1; }
done

echo "== examples/custom_op against the installed minidl"
cuda_args=()  # a CUDA install's example compiles its CUDA twin: nvcc where minidl's build found it
[ -x /usr/local/cuda/bin/nvcc ] && cuda_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
cmake -S examples/custom_op -B "$work/silu" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" "${cuda_args[@]}" >/dev/null
cmake --build "$work/silu" -j "${JOBS:-$(nproc)}"
(cd "$work/silu" && ctest --output-on-failure)

echo "== the installed minidl_train with --plugin"
"$prefix/bin/minidl_train" --plugin "$work/silu/libminidl_silu.so" train --model silu_cnn \
  --dataset fashion-mnist --batch-size 64 --iterations 40 --threads 2 --out "$work/run"
[ -s "$work/run/metrics.csv" ] || { echo "check_install: the run wrote no metrics.csv" >&2; exit 1; }
# The plugin also through the environment, by the verb that reads the weights back.
MINIDL_PLUGINS="$work/silu/libminidl_silu.so" "$prefix/bin/minidl_train" eval --model silu_cnn \
  --weights "$work/run" --dataset fashion-mnist --threads 2 | tee "$work/eval.txt"
# The same weights on the same test set: eval must give the figure the run finished with.
final=$(sed -n 's/^finished .*\(test loss [0-9.]*, top-1 [0-9.]*%\)$/\1/p' "$work/run/log.txt")
want=$(echo "$final" | sed 's/test loss \(.*\), top-1 \(.*\)/loss \1, top-1 \2/')
if [ -z "$final" ] || ! grep -qF "$want" "$work/eval.txt"; then
  echo "check_install: eval did not give the run's final '${final:-?}'" >&2
  exit 1
fi
# Bad plugins are refused with their path named, exit 2.
set +e
"$prefix/bin/minidl_train" --plugin "$work/nothing.so" train --model silu_cnn 2>"$work/err"
rc=$?
set -e
if [ $rc -ne 2 ] || ! grep -q "nothing.so': no such file" "$work/err"; then
  echo "check_install: a missing plugin gave rc $rc and: $(cat "$work/err")" >&2
  exit 1
fi

echo "== find_package(minidl) with the static library"
mkdir -p "$work/static"
cat > "$work/static/hello.cpp" <<'CPP'
#include <cstdio>
#include "core/plugin.h"
#include "models/registry.h"
int main() {
  minidl::ModelArgs args;
  auto net = minidl::make_model("resnet20", args);
  std::printf("%s, resnet20 has %zu parameter tensors\n", minidl::build_key().c_str(),
              net->parameters().size());
}
CPP
cat > "$work/static/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.24)
project(minidl_static_check LANGUAGES CXX)
find_package(minidl 0.1 REQUIRED)
add_executable(hello_static hello.cpp)
target_link_libraries(hello_static PRIVATE minidl::minidl_static)
CMAKE
cmake -S "$work/static" -B "$work/static/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
      "${cuda_args[@]}" >/dev/null
cmake --build "$work/static/build" >/dev/null
if ldd "$work/static/build/hello_static" | grep -q libminidl; then
  echo "check_install: hello_static links libminidl.so, not the static library" >&2
  exit 1
fi
"$work/static/build/hello_static"

echo "== pkg-config"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" c++ "$work/static/hello.cpp" -o "$work/hello" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs minidl)
"$work/hello"
echo "check_install: OK"
