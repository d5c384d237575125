#include "core/cuda/launch.cuh"
#include "kernels/lrn.h"

namespace minidl {
namespace cuda {

template <typename T>
static void forward_typed(const Tensor& x, const Tensor& y, const Tensor& scale, ImageLayout l,
                          LrnParams p, Stream s) {
  const T* px = x.data<T>();
  T *py = y.data<T>(), *ps = scale.data<T>();
  launch_elementwise(x.numel(), s,
                     [=] __device__(int64_t i) { lrn_forward_element(px, l, p, i, py[i], ps[i]); });
}

template <typename T>
static void backward_typed(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                           const Tensor& dx, ImageLayout l, LrnParams p, Stream s) {
  const T *px = x.data<T>(), *py = y.data<T>(), *ps = scale.data<T>(), *pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    pdx[i] = lrn_backward_element(px, py, ps, pdy, l, p, i);
  });
}

void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, ImageLayout l,
                 const LrnParams& p, Stream s) {
  visit_floating(x.dtype(), "lrn_forward",
                 [&](auto z) { forward_typed<decltype(z)>(x, y, scale, l, p, s); });
}

void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, ImageLayout l, const LrnParams& p, Stream s) {
  visit_floating(x.dtype(), "lrn_backward",
                 [&](auto z) { backward_typed<decltype(z)>(x, y, scale, dy, dx, l, p, s); });
}

}  // namespace cuda
}  // namespace minidl
