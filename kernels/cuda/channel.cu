#include "kernels/channel.h"
#include "kernels/cuda/launch.cuh"

namespace minidl {
namespace cuda {

template <typename T>
static void forward_typed(const Tensor& x, const Tensor& y, ChannelPad p, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  launch_elementwise(y.numel(), s,
                     [=] __device__(int64_t j) { py[j] = channel_pad_element(px, p, j); });
}

template <typename T>
static void backward_typed(const Tensor& dy, const Tensor& dx, ChannelPad p, Stream s) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  launch_elementwise(dx.numel(), s, [=] __device__(int64_t i) {
    pdx[i] = channel_pad_backward_element(pdy, p, i);
  });
}

void channel_pad_forward(const Tensor& x, const Tensor& y, const ChannelPad& p, Stream s) {
  visit_floating(x.dtype(), "channel_pad_forward",
                 [&](auto z) { forward_typed<decltype(z)>(x, y, p, s); });
}

void channel_pad_backward(const Tensor& dy, const Tensor& dx, const ChannelPad& p, Stream s) {
  visit_floating(dx.dtype(), "channel_pad_backward",
                 [&](auto z) { backward_typed<decltype(z)>(dy, dx, p, s); });
}

}  // namespace cuda
}  // namespace minidl
