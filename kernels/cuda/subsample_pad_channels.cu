#include "core/cuda/launch.cuh"
#include "kernels/subsample_pad_channels.h"

namespace minidl {
namespace cuda {

template <typename T>
static void apply_typed(const Tensor& in, const Tensor& out, SubsamplePad p, bool backward,
                        Stream s) {
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  launch_elementwise(out.numel(), s, [=] __device__(int64_t i) {
    dst[i] = backward ? subsample_pad_channels_backward_element(src, p, i)
                      : subsample_pad_channels_element(src, p, i);
  });
}

void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream s) {
  visit_floating(out.dtype(), "subsample_pad_channels",
                 [&](auto z) { apply_typed<decltype(z)>(in, out, p, backward, s); });
}

}  // namespace cuda
}  // namespace minidl
