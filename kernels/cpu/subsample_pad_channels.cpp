#include "kernels/subsample_pad_channels.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream) {
  visit_floating(out.dtype(), "subsample_pad_channels", [&](auto z) {
    using T = decltype(z);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    parallel_for(out.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      if (backward)
        for (int64_t i = b; i < e; ++i) dst[i] = subsample_pad_channels_backward_element(src, p, i);
      else
        for (int64_t i = b; i < e; ++i) dst[i] = subsample_pad_channels_element(src, p, i);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
