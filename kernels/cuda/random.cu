#include "core/cuda/launch.cuh"
#include "kernels/random.h"

namespace minidl {
namespace cuda {

void random_fill(const Tensor& t, RandomSpec spec, Stream s) {
  int64_t n = t.numel();
  if (t.dtype() == DType::u8) {
    uint8_t* p = t.data<uint8_t>();
    launch_elementwise(
        n, s, [=] __device__(int64_t i) { p[i] = static_cast<uint8_t>(random_element(spec, i)); });
    return;
  }
  float* p = t.data<float>();
  launch_elementwise(n, s, [=] __device__(int64_t i) { p[i] = random_element(spec, i); });
}

}  // namespace cuda
}  // namespace minidl
