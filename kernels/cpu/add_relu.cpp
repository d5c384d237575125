// CPU add + ReLU: plain loops over parallel chunks (the header's element math; the loops are free
// of index math so that they vectorise). Each element is read and written at one index, so the
// outputs may alias the inputs.
#include "kernels/add_relu.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;  // elementwise.cpp's

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream) {
  visit_floating(a.dtype(), "add_relu_forward", [&](auto z) {
    using T = decltype(z);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    parallel_for(a.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) py[i] = add_relu_element(pa[i], pb[i]);
    });
  });
}

void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream) {
  visit_floating(y.dtype(), "add_relu_backward", [&](auto z) {
    using T = decltype(z);
    const T* py = y.data<T>();
    const T* pdy = dy.data<T>();
    T* pg = g.data<T>();
    parallel_for(y.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) pg[i] = add_relu_backward_element(py[i], pdy[i]);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
