#include "layers/pooling.h"

#include <sstream>

#include "kernels/image_layout.h"

namespace minidl {

namespace {

PoolParams square(int64_t k, int64_t stride, int64_t pad, bool ceil_mode, bool include_pad) {
  PoolParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride < 1 ? k : stride;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = include_pad;
  return p;
}

std::string pool_str(const PoolParams& p) {
  std::ostringstream os;
  os << "kernel_size=(" << p.kernel_h << ", " << p.kernel_w << "), stride=(" << p.stride_h << ", "
     << p.stride_w << "), padding=(" << p.pad_h << ", " << p.pad_w << ")";
  if (p.ceil_mode) os << ", ceil_mode=True";
  return os.str();
}

// The pooled output [N, C, OH, OW] for x, in x's layout.
Tensor pooled_output(const Tensor& x, const PoolParams& p, DType dtype) {
  PoolGeometry g = pool_geometry("pooling", x, p);
  return Tensor::empty({g.out.N, g.out.C, g.out.H, g.out.W}, dtype, x.device(),
                       g.in.channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous);
}

}  // namespace

InputMeta InputMeta::of(const Tensor& x) {
  return {true, x.shape(), x.dtype(), x.device(), x.dim() == 4 && !x.is_contiguous()};
}

Tensor InputMeta::empty() const {
  return Tensor::empty(shape, dtype, device,
                       channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous);
}

// ---- MaxPool2d ----

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding, bool ceil_mode)
    : MaxPool2d(square(kernel_size, stride, padding, ceil_mode, true)) {}

MaxPool2d::MaxPool2d(const PoolParams& p) : p_(p) {
  pool_output_size(p.kernel_h, p.kernel_h, p.stride_h, p.pad_h, false);  // validates the options
  pool_output_size(p.kernel_w, p.kernel_w, p.stride_w, p.pad_w, false);
}

std::string MaxPool2d::options_str() const {
  return pool_str(p_);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  Tensor y = pooled_output(xin, p_, xin.dtype());
  // The argmax is what backward needs; eval mode neither allocates nor writes it.
  Tensor argmax = training() ? pooled_output(xin, p_, DType::i32) : Tensor();
  pool2d_forward(PoolKind::max, xin, y, argmax, p_);
  x_ = training() ? InputMeta::of(xin) : InputMeta();
  argmax_ = argmax;
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy) {
  check_cached(argmax_);
  Tensor argmax = argmax_, dx = x_.empty();
  clear_cache();
  pool2d_backward(PoolKind::max, match_layout(dy, dx), argmax, dx, p_);
  return dx;
}

// ---- AvgPool2d ----

AvgPool2d::AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding, bool ceil_mode,
                     bool count_include_pad)
    : AvgPool2d(square(kernel_size, stride, padding, ceil_mode, count_include_pad)) {}

AvgPool2d::AvgPool2d(const PoolParams& p) : p_(p) {
  pool_output_size(p.kernel_h, p.kernel_h, p.stride_h, p.pad_h, false);
  pool_output_size(p.kernel_w, p.kernel_w, p.stride_w, p.pad_w, false);
}

std::string AvgPool2d::options_str() const {
  return pool_str(p_) + (p_.count_include_pad ? "" : ", count_include_pad=False");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  Tensor y = pooled_output(xin, p_, xin.dtype());
  pool2d_forward(PoolKind::avg, xin, y, Tensor(), p_);
  x_ = training() ? InputMeta::of(xin) : InputMeta();
  return y;
}

Tensor AvgPool2d::backward(const Tensor& dy) {
  MINIDL_CHECK(x_.valid, where(), ": backward without a training-mode forward");
  Tensor dx = x_.empty();
  clear_cache();
  pool2d_backward(PoolKind::avg, match_layout(dy, dx), Tensor(), dx, p_);
  return dx;
}

// ---- GlobalAvgPool2d ----

Tensor GlobalAvgPool2d::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  MINIDL_CHECK(xin.dim() == 4, where(), ": expected [N, C, H, W], got ", shape_str(x.shape()));
  Tensor y = Tensor::empty({xin.size(0), xin.size(1), 1, 1}, xin.dtype(), xin.device());
  global_avg_pool_forward(xin, y);
  x_ = training() ? InputMeta::of(xin) : InputMeta();
  return y;
}

Tensor GlobalAvgPool2d::backward(const Tensor& dy) {
  MINIDL_CHECK(x_.valid, where(), ": backward without a training-mode forward");
  Tensor dx = x_.empty();
  clear_cache();
  global_avg_pool_backward(dy.contiguous(), dx);
  return dx;
}

}  // namespace minidl
