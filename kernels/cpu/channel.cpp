#include "kernels/channel.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

void channel_pad_forward(const Tensor& x, const Tensor& y, const ChannelPad& p, Stream) {
  visit_floating(x.dtype(), "channel_pad_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(y.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) py[j] = channel_pad_element(px, p, j);
    });
  });
}

void channel_pad_backward(const Tensor& dy, const Tensor& dx, const ChannelPad& p, Stream) {
  visit_floating(dx.dtype(), "channel_pad_backward", [&](auto z) {
    using T = decltype(z);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(dx.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pdx[i] = channel_pad_backward_element(pdy, p, i);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
