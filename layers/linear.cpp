#include "layers/linear.h"

#include <sstream>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/precision.h"
#include "kernels/reduce.h"
#include "layers/init.h"

namespace minidl {

namespace {

// Row-major C [m, n] = op(A) op(B) + beta C on x's device and dtype (all contiguous).
void gemm_on(const Tensor& a, bool ta, const Tensor& b, bool tb, double beta, const Tensor& c) {
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = c.size(0);
  g.n = c.size(1);
  g.k = ta ? a.size(0) : a.size(1);
  g.beta = beta;
  g.lda = a.size(1);
  g.ldb = b.size(1);
  g.ldc = c.size(1);
  if (c.dtype() == DType::f64)
    gemm(c.device(), g, a.data<double>(), b.data<double>(), c.data<double>());
  else
    gemm(c.device(), g, a.data<float>(), b.data<float>(), c.data<float>());
}

}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features) {
  MINIDL_CHECK(in_features > 0 && out_features > 0, "Linear: bad sizes in ", in_features, ", out ",
               out_features);
  weight_ = register_parameter("weight", Tensor::empty({out_, in_}));
  if (bias) bias_ = register_parameter("bias", Tensor::empty({out_}), true);
  init_parameters("pytorch", default_generator());
}

std::string Linear::options_str() const {
  std::ostringstream os;
  os << "in_features=" << in_ << ", out_features=" << out_
     << ", bias=" << (bias_ ? "True" : "False");
  return os.str();
}

void Linear::init_parameters(const std::string& scheme, Generator& gen) {
  init_weight_and_bias(scheme, weight_->value, bias_ ? bias_->value : Tensor(), gen);
}

Tensor Linear::forward(const Tensor& x) {
  check_input(x);
  MINIDL_CHECK(x.dim() == 2 && x.size(1) == in_, where(), ": expected input [N, ", in_, "], got ",
               shape_str(x.shape()), x.dim() > 2 ? " (add a Flatten before it)" : "");
  // In bf16 / f16 (compute_precision): operands and result rounded, the sums in f32.
  const DType pr = active_precision(x, precision_);
  Tensor xin = rounded_to(x.contiguous(), pr);
  Tensor y = Tensor::empty({x.size(0), out_}, x.dtype(), x.device());
  if (x.size(0) > 0) {
    gemm_on(xin, false, rounded_to(weight_->value, pr), true, 0.0, y);  // y = x W^T
    if (bias_) add(y, rounded_to(bias_->value, pr), y);
    round_to_precision(y, pr, y);
  }
  x_ = training() ? xin : Tensor();
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_;
  x_ = Tensor();
  Tensor d = dy.contiguous();
  MINIDL_CHECK(d.dim() == 2 && d.size(0) == x.size(0) && d.size(1) == out_, where(), ": dy ",
               shape_str(dy.shape()), " does not match the output [", x.size(0), ", ", out_, "]");
  Tensor dx = input_grad_ ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  if (x.size(0) == 0) return dx;
  // In bf16 / f16 each gradient leaves the GEMM rounded, as a bf16 / f16 result would, and is
  // then added to the f32 gradient.
  const DType pr = active_precision(x, precision_);
  d = rounded_to(d, pr);
  if (pr == DType::f32) {
    gemm_on(d, true, x, false, 1.0, weight_->grad);  // dW [out, in] += dy^T [out, N] x [N, in]
  } else {
    Tensor dw = Tensor::empty(weight_->grad.shape(), x.dtype(), x.device());
    gemm_on(d, true, x, false, 0.0, dw);
    accumulate_rounded(dw, pr, weight_->grad);
  }
  if (bias_) {
    Tensor db = Tensor::empty({out_}, x.dtype(), x.device());
    sum_per_channel(d, db);  // column sums of dy
    accumulate_rounded(db, pr, bias_->grad);
  }
  if (dx.defined()) {
    gemm_on(d, false, rounded_to(weight_->value, pr), false, 0.0, dx);  // dx = dy W
    round_to_precision(dx, pr, dx);
  }
  return dx;
}

}  // namespace minidl
