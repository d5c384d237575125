// SiLU (Swish, Ramachandran et al. 2017; PyTorch's torch.nn.SiLU): y = x * sigmoid(x), added to
// minidl from outside its tree. The layout of a built-in op (DESIGN.md section 3): the element math
// once, for both twins; the twins, same signature, in minidl::cpu and minidl::cuda; the public op,
// which checks its arguments and dispatches to the tensor's device.
#pragma once

#include <cmath>

#include "core/dispatch.h"
#include "kernels/elementwise.h"  // check_elementwise

namespace minidl {

// ---- element math (shared by both twins) ----

template <typename T>
MINIDL_HD T silu_sigmoid(T x) {
  if constexpr (sizeof(T) == sizeof(float))
    return T(1) / (T(1) + expf(-x));
  else
    return T(1) / (T(1) + exp(-x));
}
template <typename T>
MINIDL_HD T silu_forward_element(T x) {
  return x * silu_sigmoid(x);
}
// d/dx [x s(x)] = s + x s (1 - s) = s (1 + x (1 - s)). Uses the input x: s is recomputed rather
// than stored (one activation kept instead of two).
template <typename T>
MINIDL_HD T silu_backward_element(T x, T dy) {
  T s = silu_sigmoid(x);
  return dy * s * (T(1) + x * (T(1) - s));
}

// ---- twins ----

namespace cpu {
void silu_forward(const Tensor& x, const Tensor& y, Stream s);
void silu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream s);
}  // namespace cpu
namespace cuda {
void silu_forward(const Tensor& x, const Tensor& y, Stream s);
void silu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream s);
}  // namespace cuda

// ---- the ops ----

inline void silu_forward(const Tensor& x, const Tensor& y) {
  check_elementwise("silu_forward", x, {&y});
  MINIDL_DISPATCH(x.device(), silu_forward, x, y);
}
inline void silu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx) {
  check_elementwise("silu_backward", x, {&dy, &dx});
  MINIDL_DISPATCH(x.device(), silu_backward, x, dy, dx);
}

}  // namespace minidl
