#include "layers/linear.h"

#include <sstream>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/precision.h"
#include "kernels/reduce.h"
#include "layers/init.h"

namespace minidl {

namespace {

// Row-major C [m, n] = op(A) op(B) + beta C (all contiguous; A and B 16-bit with an f32 C in
// bf16 / f16).
void gemm_on(const Tensor& a, bool ta, const Tensor& b, bool tb, double beta, const Tensor& c) {
  gemm(ta, tb, 1.0, a, b, beta, c);
}

// A GEMM operand in the layer's precision: w itself in f32 (and f64), a 16-bit copy otherwise.
Tensor operand(const Tensor& w, DType precision) {
  return precision == DType::f32 ? w : w.to(precision);
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
  // In bf16 / f16 (compute_precision): a 16-bit GEMM (x and W in 16 bits, sums in f32, an f32
  // y), the bias (rounded to 16 bits) added in f32, and y rounded once, in f32 storage for the
  // loss. x is kept in 16 bits for backward.
  const DType pr = active_precision(x, precision_);
  Tensor xin = pr == DType::f32 ? x.contiguous() : x.contiguous().to(pr);
  Tensor y = Tensor::empty({x.size(0), out_}, x.dtype(), x.device());
  if (x.size(0) > 0) {
    gemm_on(xin, false, operand(weight_->value, pr), true, 0.0, y);  // y = x W^T
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
  // x_ is 16-bit in bf16 / f16: the GEMMs take dy and W in 16 bits too, and each gradient leaves
  // its GEMM in f32, is rounded once, as a bf16 / f16 result would be, and dW and db are then
  // added to the f32 gradients. dx is returned in f32 storage (its values on the 16-bit grid).
  const DType pr = is_16bit_float(x.dtype()) ? x.dtype() : DType::f32;
  const DType out = math_dtype(x.dtype());
  Tensor dx = input_grad_ ? Tensor::empty(x.shape(), out, x.device()) : Tensor();
  if (x.size(0) == 0) return dx;
  if (pr == DType::f32) {
    gemm_on(d, true, x, false, 1.0, weight_->grad);  // dW [out, in] += dy^T [out, N] x [N, in]
  } else {
    d = d.to(pr);
    Tensor dw = Tensor::empty(weight_->grad.shape(), out, x.device());
    gemm_on(d, true, x, false, 0.0, dw);
    accumulate_rounded(dw, pr, weight_->grad);
  }
  if (bias_) {
    Tensor db = Tensor::empty({out_}, out, x.device());
    sum_per_channel(d.to(out), db);  // column sums of dy
    accumulate_rounded(db, pr, bias_->grad);
  }
  if (dx.defined()) {
    gemm_on(d, false, operand(weight_->value, pr), false, 0.0, dx);  // dx = dy W
    round_to_precision(dx, pr, dx);
  }
  return dx;
}

}  // namespace minidl
