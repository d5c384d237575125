#include "kernels/batchnorm.h"

#include <algorithm>
#include <utility>

namespace minidl {

namespace {

// A per-channel tensor ([C], x's math dtype (f32 for 16-bit x) and device, contiguous); skipped
// when undefined.
void check_channel_vector(const char* op, const Tensor& x, const Tensor& t, const char* name,
                          int64_t C) {
  if (!t.defined()) return;
  MINIDL_CHECK(t.dim() == 1 && t.size(0) == C, op, ": ", name, " has shape ", shape_str(t.shape()),
               ", expected [", C, "] for x ", shape_str(x.shape()));
  check_dtype(op, t, name, math_dtype(x.dtype()));
  check_contiguous(op, t, name);
  check_same_device(op, {&x, &t});
}

// Same shape, dtype, device and memory layout as x.
void check_like_x(const char* op, const Tensor& x, const Tensor& t, const char* name) {
  check_defined(op, t, name);
  check_same_shape(op, x, "x", t, name);
  check_dtype(op, t, name, x.dtype());
  check_same_device(op, {&x, &t});
  MINIDL_CHECK(same_memory_order(t, x), op, ": ", name, " ",
               shape_str(t.shape()), " is laid out differently from x");
}

}  // namespace

ChannelView channel_view(const char* op, const Tensor& x) {
  check_defined(op, x, "x");
  MINIDL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64 || is_16bit_float(x.dtype()),
               op, ": x ", shape_str(x.shape()), " has dtype ", dtype_name(x.dtype()),
               ", expected f32, f64, bf16 or f16");
  MINIDL_CHECK(x.dim() >= 2 && x.dim() <= 4, op,
               ": x must be [N, C], [N, C, L] or [N, C, H, W], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1),
                inner = C ? x.numel() / std::max<int64_t>(N * C, 1) : 0;
  if (x.is_contiguous()) return {C, N, inner, inner, C * inner};
  MINIDL_CHECK(x.dim() == 4 && x.is_contiguous(MemoryFormat::channels_last), op, ": x ",
               shape_str(x.shape()), " must be dense (contiguous or channels-last)");
  return {C, N * inner, 1, 1, C};
}

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, double momentum,
                             double eps, bool relu) {
  const char* op = "batchnorm_forward_train";
  ChannelView v = channel_view(op, x);
  check_like_x(op, x, y, "y");
  for (auto [t, name] : {std::pair{&gamma, "gamma"},
                         {&beta, "beta"},
                         {&save_mean, "save_mean"},
                         {&save_invstd, "save_invstd"},
                         {&running_mean, "running_mean"},
                         {&running_var, "running_var"}})
    check_channel_vector(op, x, *t, name, v.C);
  check_defined(op, save_mean, "save_mean");
  check_defined(op, save_invstd, "save_invstd");
  MINIDL_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must both be given or both be absent");
  MINIDL_CHECK(v.outer * v.inner > 1, op, ": expected more than 1 value per channel in training, ",
               "got x ", shape_str(x.shape()));
  MINIDL_CHECK(momentum >= 0 && momentum <= 1, op, ": momentum ", momentum, " outside [0, 1]");
  MINIDL_CHECK(eps >= 0, op, ": negative eps ", eps);
  if (v.C == 0) return;
  MINIDL_DISPATCH(x.device(), batchnorm_forward_train, x, gamma, beta, y, save_mean, save_invstd,
                  running_mean, running_var, v, momentum, eps, relu);
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            double eps, bool relu) {
  const char* op = "batchnorm_forward_eval";
  ChannelView v = channel_view(op, x);
  check_like_x(op, x, y, "y");
  check_defined(op, running_mean, "running_mean");
  check_defined(op, running_var, "running_var");
  for (auto [t, name] : {std::pair{&gamma, "gamma"},
                         {&beta, "beta"},
                         {&running_mean, "running_mean"},
                         {&running_var, "running_var"}})
    check_channel_vector(op, x, *t, name, v.C);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), batchnorm_forward_eval, x, gamma, beta, running_mean, running_var, y,
                  v, eps, relu);
}

void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y) {
  const char* op = "batchnorm_backward_train";
  ChannelView v = channel_view(op, x);
  check_like_x(op, x, dy, "dy");
  if (relu_y.defined()) check_like_x(op, x, relu_y, "relu_y");
  if (dx.defined()) check_like_x(op, x, dx, "dx");
  check_defined(op, save_mean, "save_mean");
  check_defined(op, save_invstd, "save_invstd");
  for (auto [t, name] : {std::pair{&gamma, "gamma"},
                         {&save_mean, "save_mean"},
                         {&save_invstd, "save_invstd"},
                         {&dgamma, "dgamma"},
                         {&dbeta, "dbeta"}})
    check_channel_vector(op, x, *t, name, v.C);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), batchnorm_backward_train, x, dy, gamma, save_mean, save_invstd, dx,
                  dgamma, dbeta, relu_y, v);
}

}  // namespace minidl
