// The one launcher for element-wise CUDA kernels: hands each index of [0, n) to a __device__
// lambda, with a grid-stride loop so any n fits one launch. Needs nvcc's --extended-lambda.
//
//   launch_elementwise(n, stream, [=] __device__ (int64_t i) { y[i] = relu_forward(x[i]); });
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "core/stream.h"

namespace minidl {
namespace cuda {

constexpr int kBlock = 256;

template <typename F>
__global__ void elementwise_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    f(i);
}

// Enough blocks to fill the GPU several times over, but no more than the work needs.
inline int grid_for(int64_t n, int block = kBlock) {
  int64_t blocks = (n + block - 1) / block;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65536));
}

template <typename F>
void launch_elementwise(int64_t n, Stream stream, F f) {
  if (n <= 0) return;
  elementwise_kernel<<<grid_for(n), kBlock, 0, stream.handle()>>>(n, f);
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
