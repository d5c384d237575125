// CUDA counter: one thread adds one (the value never leaves the device).
#include "core/cuda/launch.cuh"
#include "kernels/counter.h"

namespace minidl {
namespace cuda {

__global__ void count_up_kernel(int64_t* counter) {
  *counter += 1;
}

void count_up(const Tensor& counter, Stream s) {
  count_up_kernel<<<1, 1, 0, s.handle()>>>(counter.data<int64_t>());
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
