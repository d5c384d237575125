#include "kernels/lrn.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, ImageLayout l,
                 const LrnParams& p, Stream) {
  visit_floating(x.dtype(), "lrn_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T *py = y.data<T>(), *ps = scale.data<T>();
    parallel_for(x.numel(), 1 << 12, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) lrn_forward_element(px, l, p, i, py[i], ps[i]);
    });
  });
}

void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, ImageLayout l, const LrnParams& p, Stream) {
  visit_floating(x.dtype(), "lrn_backward", [&](auto z) {
    using T = decltype(z);
    const T *px = x.data<T>(), *py = y.data<T>(), *ps = scale.data<T>(), *pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(x.numel(), 1 << 12, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pdx[i] = lrn_backward_element(px, py, ps, pdy, l, p, i);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
