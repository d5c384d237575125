// CUDA loss scaling: an element-wise multiply reading the scale from memory, and one-thread
// kernels for the state (the values never leave the device).
#include "core/cuda/launch.cuh"
#include "kernels/loss_scale.h"

namespace minidl {
namespace cuda {

void loss_scale_apply(const Tensor& x, const Tensor& state, Stream s) {
  const double* st = state.data<double>();
  float* p = x.data<float>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    p[i] = __fmul_rn(p[i], static_cast<float>(st[0]));
  });
}

__global__ void loss_scale_prepare_kernel(const double* state, SgdLiveScalars* live) {
  loss_scale_prepare_element(state, live);
}

void loss_scale_prepare(const Tensor& state, const Tensor& live, Stream s) {
  loss_scale_prepare_kernel<<<1, 1, 0, s.handle()>>>(
      state.data<double>(), reinterpret_cast<SgdLiveScalars*>(live.data<int32_t>()));
  MINIDL_LAUNCH_CHECK();
}

__global__ void loss_scale_update_kernel(double* state, const int32_t* flag, int64_t interval) {
  loss_scale_update_element(state, *flag, interval);
}

void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval, Stream s) {
  loss_scale_update_kernel<<<1, 1, 0, s.handle()>>>(state.data<double>(), flag.data<int32_t>(),
                                                    interval);
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
