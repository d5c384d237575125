// CPU add + ReLU: plain loops over parallel chunks (the header's element math; the loops are free
// of index math so that they vectorise). Each element is read and written at one index, so the
// outputs may alias the inputs.
#include "kernels/add_relu.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;  // elementwise.cpp's

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream) {
  visit_activation(a.dtype(), "add_relu_forward", [&](auto z) {
    using S = decltype(z);  // storage; widen/narrow are the identity for f32 and f64
    const S* pa = a.data<S>();
    const S* pb = b.data<S>();
    S* py = y.data<S>();
    parallel_for(a.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        py[i] = narrow<S>(add_relu_element(widen(pa[i]), widen(pb[i])));
    });
  });
}

void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream) {
  visit_activation(y.dtype(), "add_relu_backward", [&](auto z) {
    using S = decltype(z);
    const S* py = y.data<S>();
    const S* pdy = dy.data<S>();
    S* pg = g.data<S>();
    parallel_for(y.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        pg[i] = narrow<S>(add_relu_backward_element(widen(py[i]), widen(pdy[i])));
    });
  });
}

}  // namespace cpu
}  // namespace minidl
