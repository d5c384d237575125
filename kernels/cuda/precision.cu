// CUDA rounding to bf16 or f16 precision: one thread per element running the header's element
// math (integer bit manipulation: the CPU twin's bits).
#include "core/cuda/launch.cuh"
#include "kernels/precision.h"

namespace minidl {
namespace cuda {

void round_to_precision(const Tensor& x, DType precision, const Tensor& out, Stream s) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  if (precision == DType::bf16)
    launch_elementwise(x.numel(), s,
                       [=] __device__(int64_t i) { po[i] = round_to_bf16_element(px[i]); });
  else
    launch_elementwise(x.numel(), s,
                       [=] __device__(int64_t i) { po[i] = round_to_f16_element(px[i]); });
}

}  // namespace cuda
}  // namespace minidl
