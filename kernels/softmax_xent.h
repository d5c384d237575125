// Fused softmax + cross-entropy over logits [N, K] (f32 or f64) with labels i64 [N]. Per row:
//   lse = max + log(sum exp(z - max))        (max subtracted: no overflow for large logits)
//   loss = (1 - eps) (lse - z_y) + eps (lse - mean_j z_j)     (PyTorch's label smoothing)
//   p = softmax(z), kept for backward: dz_j = scale * (p_j - (1 - eps) [j == y] - eps / K)
//   rank = #{j : z_j > z_y, or z_j == z_y and j < y}: the label is top-k correct when rank < k.
// A row with a non-finite logit (NaN, +-Inf) has rank K: never correct, whatever k (NaN compares
// false with everything, so counting alone would call a NaN row top-1 correct).
// A label outside [0, K) gives loss NaN and rank -1 (the CPU op throws instead, naming the row).
#pragma once

#include <cmath>

#include "core/dispatch.h"

namespace minidl {

// ---- element math ----

template <typename T>
MINIDL_HD T xent_exp(T v) {
  if constexpr (sizeof(T) == sizeof(float))
    return expf(v);
  else
    return exp(v);
}
template <typename T>
MINIDL_HD T xent_log(T v) {
  if constexpr (sizeof(T) == sizeof(float))
    return logf(v);
  else
    return log(v);
}

// One row: z [K] -> prob [K], loss, rank.
template <typename T>
MINIDL_HD void softmax_xent_row(const T* z, int64_t K, int64_t label, T smoothing, T* prob, T& loss,
                                int64_t& rank) {
  T m = z[0];
  bool finite = true;
  for (int64_t j = 0; j < K; ++j) {
    if (z[j] > m || z[j] != z[j]) m = z[j];
    finite = finite && z[j] - z[j] == T(0);  // false for NaN and +-Inf
  }
  T s = T(0), zsum = T(0);
  for (int64_t j = 0; j < K; ++j) {
    T e = xent_exp(z[j] - m);
    prob[j] = e;
    s += e;
    zsum += z[j];
  }
  const T inv = T(1) / s;
  for (int64_t j = 0; j < K; ++j) prob[j] *= inv;
  if (label < 0 || label >= K) {
    loss = T(NAN);
    rank = -1;
    return;
  }
  const T lse = m + xent_log(s), zy = z[label];
  loss = (T(1) - smoothing) * (lse - zy);
  if (smoothing != T(0)) loss += smoothing * (lse - zsum / static_cast<T>(K));
  int64_t r = 0;
  for (int64_t j = 0; j < K; ++j) r += (z[j] > zy || (z[j] == zy && j < label)) ? 1 : 0;
  rank = finite ? r : K;
}

// dlogits[i, j] for flat index i of [N, K].
template <typename T>
MINIDL_HD T softmax_xent_grad(const T* prob, const int64_t* labels, int64_t K, T smoothing, T scale,
                              int64_t i) {
  const int64_t row = i / K, j = i % K;
  T target = smoothing / static_cast<T>(K);
  if (labels[row] == j) target += T(1) - smoothing;
  return scale * (prob[i] - target);
}

// ---- twins ----

namespace cpu {
void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing, Stream s);
void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale, Stream s);
}  // namespace cpu
namespace cuda {
void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing, Stream s);
void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale, Stream s);
}  // namespace cuda

// ---- the ops ----

// logits [N, K] (contiguous f32/f64), labels i64 [N] -> probs [N, K] (logits' dtype), losses [N]
// (logits' dtype) and ranks i64 [N]. smoothing in [0, 1].
void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing);
// dlogits [N, K] = scale * (probs - target distribution); scale = 1/N for the batch mean.
void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale);

}  // namespace minidl
