#include "core/cuda/launch.cuh"
#include "kernels/subsample_pad_channels.h"

namespace minidl {
namespace cuda {

template <typename T>
static void forward_typed(const Tensor& x, const Tensor& y, SubsamplePad p, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t j) {
    py[j] = subsample_pad_channels_element(px, p, j);
  });
}

template <typename T>
static void backward_typed(const Tensor& dy, const Tensor& dx, SubsamplePad p, Stream s) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  launch_elementwise(dx.numel(), s, [=] __device__(int64_t i) {
    pdx[i] = subsample_pad_channels_backward_element(pdy, p, i);
  });
}

void subsample_pad_channels_forward(const Tensor& x, const Tensor& y, const SubsamplePad& p,
                                    Stream s) {
  visit_floating(x.dtype(), "subsample_pad_channels_forward",
                 [&](auto z) { forward_typed<decltype(z)>(x, y, p, s); });
}

void subsample_pad_channels_backward(const Tensor& dy, const Tensor& dx, const SubsamplePad& p,
                                     Stream s) {
  visit_floating(dx.dtype(), "subsample_pad_channels_backward",
                 [&](auto z) { backward_typed<decltype(z)>(dy, dx, p, s); });
}

}  // namespace cuda
}  // namespace minidl
