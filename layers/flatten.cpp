#include "layers/flatten.h"

namespace minidl {

Tensor Flatten::forward(const Tensor& x) {
  check_input(x);
  MINIDL_CHECK(x.dim() >= 1, where(), ": cannot flatten a 0-d tensor");
  shape_ = training() ? x.shape() : Shape{};
  int64_t n = x.size(0);
  return x.contiguous().reshape({n, n > 0 ? x.numel() / n : 0});
}

Tensor Flatten::backward(const Tensor& dy) {
  MINIDL_CHECK(!shape_.empty(), where(), ": backward without a training-mode forward");
  Shape s = shape_;
  shape_.clear();
  return dy.contiguous().reshape(s);
}

}  // namespace minidl
