#include "kernels/subsample_pad_channels.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

void subsample_pad_channels_forward(const Tensor& x, const Tensor& y, const SubsamplePad& p,
                                    Stream) {
  visit_floating(x.dtype(), "subsample_pad_channels_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(y.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) py[j] = subsample_pad_channels_element(px, p, j);
    });
  });
}

void subsample_pad_channels_backward(const Tensor& dy, const Tensor& dx, const SubsamplePad& p,
                                     Stream) {
  visit_floating(dx.dtype(), "subsample_pad_channels_backward", [&](auto z) {
    using T = decltype(z);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(dx.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pdx[i] = subsample_pad_channels_backward_element(pdy, p, i);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
