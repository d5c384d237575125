// CPU loss scaling: the element functions of kernels/loss_scale.h, in place.
#include "kernels/loss_scale.h"

#include "core/parallel.h"

namespace minidl {
namespace cpu {

void loss_scale_apply(const Tensor& x, const Tensor& state, Stream) {
  const float s = static_cast<float>(state.data<double>()[0]);
  float* p = x.data<float>();
  parallel_for(x.numel(), 1 << 15, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] *= s;
  });
}

void loss_scale_prepare(const Tensor& state, const Tensor& live, Stream) {
  loss_scale_prepare_element(state.data<double>(),
                             reinterpret_cast<SgdLiveScalars*>(live.data<int32_t>()));
}

void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval, Stream) {
  loss_scale_update_element(state.data<double>(), *flag.data<int32_t>(), interval);
}

}  // namespace cpu
}  // namespace minidl
