// Batch normalisation over the channels of x: [N, C] (BatchNorm1d), or [N, C, H, W] in NCHW or
// NHWC. f32 and f64 on both twins, and bf16/f16 activations (x, y, dy, dx, relu_y) with f32
// parameters, statistics and arithmetic: each value widened as it is read, each result rounded
// once (PyTorch's batch norm on bf16 input under autocast; the CPU twin widens, runs its f32 path
// and rounds, the same values). Statistics are per channel over every other dimension
// (m = N*H*W values): the biased variance normalises, the unbiased one (m / (m - 1)) feeds the
// running variance, as in PyTorch and Caffe. Per-channel sums are taken in a fixed order on both
// twins (CPU: one channel per task, in order, in double; CUDA: fixed slices summed with CUB, then
// the slices in order), so results do not depend on the thread count.
//
// gamma/beta undefined = no affine transform (gamma 1, beta 0); running_mean/running_var undefined
// = no running statistics kept.
//
// Fused ReLU (`relu`): the forwards write max(bn(x), 0), and the backward given that output y masks
// dy by y > 0 before the batch-norm backward (kernels/elementwise.h's ReLU element math), so one
// pass over the activation replaces ReLU's own. The results are those of batch norm followed by
// relu_forward / relu_backward, bit for bit: the same values are summed in the same order.
#pragma once

#include <cmath>

#include "core/dispatch.h"
#include "kernels/elementwise.h"

namespace minidl {

// The elements of channel c are (c, k) for k in [0, outer*inner), at c*cs + (k / inner)*os +
// k % inner: NCHW: outer N, inner H*W; NHWC and [N, C]: outer N*H*W, inner 1.
struct ChannelView {
  int64_t C, outer, inner, cs, os;
};

MINIDL_HD int64_t channel_offset(const ChannelView& v, int64_t c, int64_t k) {
  return c * v.cs + (k / v.inner) * v.os + k % v.inner;
}
// The channel of the element at memory offset i.
MINIDL_HD int64_t channel_at(const ChannelView& v, int64_t i) {
  return v.cs == 1 ? i % v.C : (i / v.inner) % v.C;
}

// ---- element math (both twins) ----

template <typename T>
MINIDL_HD T bn_normalize(T x, T mean, T invstd, T gamma, T beta) {
  return (x - mean) * invstd * gamma + beta;
}

// dL/dx in training mode, where mean_dy and mean_dy_xhat are the channel means of dy and dy*xhat:
// dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
template <typename T>
MINIDL_HD T bn_backward_element(T dy, T x, T mean, T invstd, T gamma, T mean_dy, T mean_dy_xhat) {
  T xhat = (x - mean) * invstd;
  return gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

// From the channel's sum of squared deviations `sq` over `count` values: the batch variance
// (biased), its invstd, and the running update r = (1 - m) r + m * batch (unbiased variance).
template <typename T>
MINIDL_HD T bn_invstd(T var_biased, double eps) {
  if constexpr (sizeof(T) == sizeof(float))
    return 1.0f / sqrtf(var_biased + static_cast<float>(eps));
  else
    return 1.0 / sqrt(var_biased + eps);
}
template <typename T>
MINIDL_HD void bn_running_update(T& running_mean, T& running_var, T mean, T var_biased,
                                 int64_t count, double momentum) {
  T m = static_cast<T>(momentum);
  T unbiased =
      count > 1 ? var_biased * static_cast<T>(count) / static_cast<T>(count - 1) : var_biased;
  running_mean = (T(1) - m) * running_mean + m * mean;
  running_var = (T(1) - m) * running_var + m * unbiased;
}

// ---- twins ----

namespace cpu {
void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, ChannelView v,
                             double momentum, double eps, bool relu, Stream s);
void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            ChannelView v, double eps, bool relu, Stream s);
void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y,
                              ChannelView v, Stream s);
}  // namespace cpu
namespace cuda {
void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, ChannelView v,
                             double momentum, double eps, bool relu, Stream s);
void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            ChannelView v, double eps, bool relu, Stream s);
void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y,
                              ChannelView v, Stream s);
}  // namespace cuda

// ---- the ops ----

// The channel view of x ([N, C], [N, C, L] or [N, C, H, W]; dense NCHW or NHWC).
ChannelView channel_view(const char* op, const Tensor& x);

// Training: batch statistics. Writes y (x's shape and layout), save_mean and save_invstd [C] (for
// backward), and updates running_mean/running_var [C] with `momentum` (PyTorch's convention).
// Throws when a channel has a single value (m = 1), as PyTorch does. relu: y = max(bn(x), 0).
void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, double momentum,
                             double eps, bool relu = false);

// Inference: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta (relu: then max(y, 0)).
void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            double eps, bool relu = false);

// Backward of the training forward: dx written (skipped if undefined); dgamma += sum(dy * xhat),
// dbeta += sum(dy) (each skipped if undefined). dy in x's layout. relu_y defined: the output of a
// fused-ReLU forward (x's layout), and dy is taken as dy * (relu_y > 0) throughout.
void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta,
                              const Tensor& relu_y = Tensor());

}  // namespace minidl
