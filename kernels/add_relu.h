// The residual block's sum and ReLU, fused (layers/containers.h, Residual with post_relu):
//   forward   y = max(a + b, 0)        one pass instead of an add and a ReLU over y
//   backward  g = dy where y > 0, else 0   (y: the forward output), handed to both branches
// The element math is elementwise.h's: one rounding (the add) and one compare, so the results are
// the bits of add followed by relu_forward / relu_backward. f32, f64, and bf16/f16 activations
// (the add in f32, rounded once); tensors dense with one layout (contiguous, or all channels-last
// alike); outputs may alias inputs (y = a, g = y).
#pragma once

#include "kernels/elementwise.h"

namespace minidl {

// ---- element math ----

template <typename T>
MINIDL_HD T add_relu_element(T a, T b) {
  return relu_forward_element<T>(a + b);
}

template <typename T>
MINIDL_HD T add_relu_backward_element(T y, T dy) {
  return relu_backward_element(y, dy);
}

// ---- twins ----

namespace cpu {
void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream s);
void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s);
}  // namespace cpu
namespace cuda {
void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream s);
void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s);
}  // namespace cuda

// ---- the ops ----

// y = max(a + b, 0). a, b, y: one shape, dtype, device and layout.
void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y);
// g = dy where y > 0, else 0. y, dy, g: one shape, dtype, device and layout.
void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g);

}  // namespace minidl
