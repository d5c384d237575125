#include <cub/block/block_reduce.cuh>

#include "core/cuda/launch.cuh"
#include "kernels/reduce.h"

namespace minidl {
namespace cuda {

constexpr int kReduceThreads = 256;
constexpr int kMaxPartials = 1024;

// Pass 1 of sum_all: block b sums a fixed strided slice; pass 2 (one block) sums the partials.
// The grid size depends only on n, so the result is the same run to run.
template <typename T>
__global__ void sum_partials_kernel(const T* x, int64_t n, T* partials) {
  using Reduce = cub::BlockReduce<T, kReduceThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  T acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kReduceThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kReduceThreads)
    acc += x[i];
  T total = Reduce(tmp).Sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

template <typename T>
static void sum_all_typed(const Tensor& x, const Tensor& out, Stream s) {
  int64_t n = x.numel();
  int blocks =
      static_cast<int>(std::min<int64_t>(kMaxPartials, std::max<int64_t>(1, (n + 4095) / 4096)));
  Tensor partials = Tensor::empty({blocks}, x.dtype(), x.device());
  sum_partials_kernel<T>
      <<<blocks, kReduceThreads, 0, s.handle()>>>(x.data<T>(), n, partials.data<T>());
  MINIDL_LAUNCH_CHECK();
  sum_partials_kernel<T>
      <<<1, kReduceThreads, 0, s.handle()>>>(partials.data<T>(), blocks, out.data<T>());
  MINIDL_LAUNCH_CHECK();
}

// One block per channel c sums x[n, c, :] over all n.
template <typename T>
__global__ void sum_per_channel_kernel(const T* x, int64_t N, int64_t C, int64_t inner, T* out) {
  using Reduce = cub::BlockReduce<T, kReduceThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  int64_t c = blockIdx.x;
  T acc = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + (n * C + c) * inner;
    for (int64_t i = threadIdx.x; i < inner; i += kReduceThreads) acc += row[i];
  }
  T total = Reduce(tmp).Sum(acc);
  if (threadIdx.x == 0) out[c] = total;
}

template <typename T>
static void max_along_typed(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices,
                            Stream s) {
  const T* p = x.data<T>();
  T* ov = values.data<T>();
  int64_t* oi = indices.data<int64_t>();
  launch_elementwise(v.outer * v.inner, s, [=] __device__(int64_t j) {
    int64_t o = j / v.inner, in = j % v.inner;
    T best = 0;
    int64_t best_i = -1;
    for (int64_t k = 0; k < v.size; ++k)
      max_update(p[(o * v.size + k) * v.inner + in], k, best, best_i);
    ov[j] = best;
    oi[j] = best_i;
  });
}

void sum_all(const Tensor& x, const Tensor& out, Stream s) {
  visit_floating(x.dtype(), "sum", [&](auto z) { sum_all_typed<decltype(z)>(x, out, s); });
}

void sum_per_channel(const Tensor& x, const Tensor& out, Stream s) {
  int64_t N = x.size(0), C = x.size(1), inner = C ? x.numel() / (N * C) : 0;
  if (C == 0) return;
  visit_floating(x.dtype(), "sum_per_channel", [&](auto z) {
    using T = decltype(z);
    sum_per_channel_kernel<T><<<static_cast<unsigned>(C), kReduceThreads, 0, s.handle()>>>(
        x.data<T>(), N, C, inner, out.data<T>());
    MINIDL_LAUNCH_CHECK();
  });
}

void max_along(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices, Stream s) {
  visit_floating(x.dtype(), "max_along",
                 [&](auto z) { max_along_typed<decltype(z)>(x, v, values, indices, s); });
}

}  // namespace cuda
}  // namespace minidl
