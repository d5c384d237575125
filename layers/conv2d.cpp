#include "layers/conv2d.h"

#include <sstream>

#include "kernels/elementwise.h"
#include "kernels/image_layout.h"
#include "kernels/precision.h"
#include "layers/init.h"

namespace minidl {

Conv2d::Conv2d(const Conv2dOptions& o) : opts_(o) {
  MINIDL_CHECK(o.in_ > 0 && o.out_ > 0 && o.kh_ > 0 && o.kw_ > 0, "Conv2d: bad sizes in ", o.in_,
               ", out ", o.out_, ", kernel ", o.kh_, "x", o.kw_);
  MINIDL_CHECK(o.p_.stride_h > 0 && o.p_.stride_w > 0 && o.p_.pad_h >= 0 && o.p_.pad_w >= 0 &&
                   o.p_.dilation_h > 0 && o.p_.dilation_w > 0,
               "Conv2d: bad stride, padding or dilation");
  weight_ = register_parameter("weight", Tensor::empty({o.out_, o.in_, o.kh_, o.kw_}));
  if (o.bias_) bias_ = register_parameter("bias", Tensor::empty({o.out_}), true);
  init_parameters("pytorch", default_generator());
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, bool bias)
    : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)
                 .stride(stride)
                 .padding(padding)
                 .bias(bias)) {}

std::string Conv2d::options_str() const {
  const ConvParams& p = opts_.p_;
  std::ostringstream os;
  os << opts_.in_ << ", " << opts_.out_ << ", kernel_size=(" << opts_.kh_ << ", " << opts_.kw_
     << "), stride=(" << p.stride_h << ", " << p.stride_w << ")";
  if (p.pad_h || p.pad_w) os << ", padding=(" << p.pad_h << ", " << p.pad_w << ")";
  if (p.dilation_h != 1 || p.dilation_w != 1)
    os << ", dilation=(" << p.dilation_h << ", " << p.dilation_w << ")";
  if (!bias_) os << ", bias=False";
  return os.str();
}

void Conv2d::init_parameters(const std::string& scheme, Generator& gen) {
  init_weight_and_bias(scheme, weight_->value, bias_ ? bias_->value : Tensor(), gen);
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  MINIDL_CHECK(x.dim() == 4 && x.size(1) == opts_.in_, where(), ": expected input [N, ", opts_.in_,
               ", H, W], got ", shape_str(x.shape()));
  const ConvParams& p = opts_.p_;
  int64_t OH = conv_output_size(x.size(2), opts_.kh_, p.stride_h, p.pad_h, p.dilation_h);
  int64_t OW = conv_output_size(x.size(3), opts_.kw_, p.stride_w, p.pad_w, p.dilation_w);
  const Shape y_shape{x.size(0), opts_.out_, OH, OW};
  Tensor xin;
  MemoryFormat yf;
  if (memory_format_ == MemoryFormat::channels_last) {  // NHWC in and out, whatever x was
    xin = x.contiguous(MemoryFormat::channels_last);
    yf = MemoryFormat::channels_last;
  } else {  // the layout given on CUDA; NCHW on the CPU, as the models were measured there
    xin = x.device().is_cpu() ? x.contiguous() : match_layout(x, x);
    yf = layout_of(xin);
  }
  input_dtype_ = x.dtype();
  const DType pr = active_precision(xin, precision_);
  if (pr != DType::f32 && !bias_) {
    // In bf16 / f16 (compute_precision): a 16-bit convolution (cuDNN's tensor cores on a GPU) on
    // x (narrowed if it came in f32) and a 16-bit copy of w, sums in f32, y rounded once and
    // handed on in 16 bits (the 16-bit activations of docs/precision.md). The input is kept in
    // 16 bits for backward (half the memory of f32).
    Tensor x16 = xin.to(pr);
    Tensor y16 = Tensor::empty(y_shape, pr, x.device(), yf);
    conv2d_forward(x16, weight_->value.to(pr), Tensor(), y16, p);
    x_ = training() ? x16 : Tensor();
    return y16;
  }
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device(), yf);
  // With a bias, bf16 / f16 round the f32 operands and result in f32 storage (kernels/precision.h):
  // the same values, the bias added before the one rounding (kernels/conv.h: a 16-bit
  // convolution takes no bias).
  xin = rounded_to(xin, pr);
  conv2d_forward(xin, rounded_to(weight_->value, pr),
                 bias_ ? rounded_to(bias_->value, pr) : Tensor(), y, p);
  round_to_precision(y, pr, y);
  x_ = training() ? xin : Tensor();
  return y;
}

Tensor Conv2d::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_;
  x_ = Tensor();
  // dy and dx in the forward's layout (channels_last: NHWC, even where x's single channel makes
  // NCHW and NHWC one layout).
  const MemoryFormat f =
      memory_format_ == MemoryFormat::channels_last ? MemoryFormat::channels_last : x.memory_format();
  if (is_16bit_float(x.dtype())) return backward_16bit(x, dy, f);
  Tensor d = dy.contiguous(f);
  Tensor dx = input_grad_ ? Tensor::empty(x.shape(), x.dtype(), x.device(), f) : Tensor();
  const DType pr = active_precision(x, precision_);
  if (pr == DType::f32) {
    conv2d_backward(x, weight_->value, d, dx, weight_->grad, bias_ ? bias_->grad : Tensor(),
                    opts_.p_);
    return dx;
  }
  // Each gradient leaves the convolution rounded, as a bf16 / f16 result would, and is then
  // added to the f32 gradient (the optimiser's weights are f32).
  Tensor dw = Tensor::zeros(weight_->grad.shape(), DType::f32, x.device());
  Tensor db = bias_ ? Tensor::zeros(bias_->grad.shape(), DType::f32, x.device()) : Tensor();
  conv2d_backward(x, rounded_to(weight_->value, pr), rounded_to(d, pr), dx, dw, db, opts_.p_);
  accumulate_rounded(dw, pr, weight_->grad);
  if (bias_) accumulate_rounded(db, pr, bias_->grad);
  if (dx.defined()) round_to_precision(dx, pr, dx);
  return dx;
}

// The 16-bit convolution's backward: dy (16-bit, y's dtype) in the forward's layout, dx and dw
// from the 16-bit kernel (each rounded once), dw added to the f32 gradient, dx widened when the
// forward's x was f32 (a network's first convolution).
Tensor Conv2d::backward_16bit(const Tensor& x, const Tensor& dy, MemoryFormat f) {
  const DType pr = x.dtype();
  Tensor d = dy.dtype() == pr ? dy.contiguous(f) : Tensor::empty(dy.shape(), pr, dy.device(), f);
  if (dy.dtype() != pr) d.copy_(dy);
  Tensor dx = input_grad_ ? Tensor::empty(x.shape(), pr, x.device(), f) : Tensor();
  Tensor dw = Tensor::zeros(weight_->grad.shape(), pr, x.device());
  conv2d_backward(x, weight_->value.to(pr), d, dx, dw, Tensor(), opts_.p_);
  add(weight_->grad, dw.to(DType::f32), weight_->grad);
  return dx.defined() ? dx.to(input_dtype_) : dx;
}

}  // namespace minidl
