#include "kernels/add_relu.h"

namespace minidl {

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y) {
  check_elementwise("add_relu_forward", a, {&b, &y});
  if (a.numel() == 0) return;
  MINIDL_DISPATCH(a.device(), add_relu_forward, a, b, y);
}

void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g) {
  check_elementwise("add_relu_backward", y, {&dy, &g});
  if (y.numel() == 0) return;
  MINIDL_DISPATCH(y.device(), add_relu_backward, y, dy, g);
}

}  // namespace minidl
