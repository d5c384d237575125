#include "layers/relu.h"

#include "kernels/elementwise.h"
#include "kernels/image_layout.h"

namespace minidl {

std::string ReLU::options_str() const {
  if (fused_) return "fused into the layer before";
  return inplace_ ? "inplace=True" : "";
}

Tensor ReLU::forward(const Tensor& x) {
  check_input(x);
  if (fused_) return x;
  Tensor xin = match_layout(x, x);
  Tensor y = inplace_ ? xin : empty_like_layout(xin.shape(), xin);
  relu_forward(xin, y);
  y_ = training() ? y : Tensor();
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  if (fused_) return dy;
  check_cached(y_);
  Tensor y = y_;
  y_ = Tensor();
  Tensor d = match_layout(dy, y).to(y.dtype());  // an f32 dy for a 16-bit y, say
  Tensor dx = empty_like_layout(y.shape(), y);
  relu_backward(y, d, dx);
  return dx;
}

}  // namespace minidl
