// Local response normalisation, as Caffe's LRN layer (used by Caffe's cifar10_full, the paper's
// "3-layer" net). x [N, C, H, W] (NCHW or NHWC, f32 or f64), odd window size n:
//   across channels:  scale = k + alpha / n   * sum of x^2 over channels [c - n/2, c + n/2]
//   within a channel: scale = k + alpha / n^2 * sum of x^2 over the n x n square around (h, w)
//                     (zero padded; Caffe fixes k = 1 there)
//   y = x * scale^(-beta)
//   dx_i = dy_i scale_i^(-beta) - (2 alpha beta / norm) x_i * sum over windows j holding i of
//          dy_j y_j / scale_j        (norm = n or n^2; the windows are symmetric)
// The backward is a gather over the same window, so both twins run the same element functions.
#pragma once

#include <cmath>

#include "core/dispatch.h"
#include "kernels/image_layout.h"

namespace minidl {

enum class LrnRegion { across_channels, within_channel };

struct LrnParams {
  int64_t size = 5;
  double alpha = 1e-4, beta = 0.75, k = 1.0;
  LrnRegion region = LrnRegion::across_channels;
};

// ---- element math ----

template <typename T>
MINIDL_HD T lrn_pow(T v, T e) {
  if constexpr (sizeof(T) == sizeof(float))
    return powf(v, e);
  else
    return pow(v, e);
}

// Calls f(offset) for every element in the window of (n, c, h, w).
template <typename F>
MINIDL_HD void lrn_window(const ImageLayout& l, const LrnParams& p, int64_t n, int64_t c, int64_t h,
                          int64_t w, F f) {
  const int64_t r = p.size / 2;
  if (p.region == LrnRegion::across_channels) {
    for (int64_t cc = c - r < 0 ? 0 : c - r; cc <= c + r && cc < l.C; ++cc)
      f(image_offset(l, n, cc, h, w));
  } else {
    for (int64_t hh = h - r < 0 ? 0 : h - r; hh <= h + r && hh < l.H; ++hh)
      for (int64_t ww = w - r < 0 ? 0 : w - r; ww <= w + r && ww < l.W; ++ww)
        f(image_offset(l, n, c, hh, ww));
  }
}

template <typename T>
MINIDL_HD T lrn_norm(const LrnParams& p) {
  return static_cast<T>(p.region == LrnRegion::across_channels ? p.size : p.size * p.size);
}

// y and scale at memory offset i.
template <typename T>
MINIDL_HD void lrn_forward_element(const T* x, const ImageLayout& l, const LrnParams& p, int64_t i,
                                   T& y, T& scale) {
  int64_t n, c, h, w;
  image_coords(l, i, n, c, h, w);
  T sq = T(0);
  lrn_window(l, p, n, c, h, w, [&](int64_t o) { sq += x[o] * x[o]; });
  scale = static_cast<T>(p.k) + static_cast<T>(p.alpha) / lrn_norm<T>(p) * sq;
  y = x[i] * lrn_pow(scale, static_cast<T>(-p.beta));
}

template <typename T>
MINIDL_HD T lrn_backward_element(const T* x, const T* y, const T* scale, const T* dy,
                                 const ImageLayout& l, const LrnParams& p, int64_t i) {
  int64_t n, c, h, w;
  image_coords(l, i, n, c, h, w);
  T acc = T(0);
  lrn_window(l, p, n, c, h, w, [&](int64_t o) { acc += dy[o] * y[o] / scale[o]; });
  const T ratio = T(2) * static_cast<T>(p.alpha) * static_cast<T>(p.beta) / lrn_norm<T>(p);
  return dy[i] * lrn_pow(scale[i], static_cast<T>(-p.beta)) - ratio * x[i] * acc;
}

// ---- twins ----

namespace cpu {
void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, ImageLayout l,
                 const LrnParams& p, Stream s);
void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, ImageLayout l, const LrnParams& p, Stream s);
}  // namespace cpu
namespace cuda {
void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, ImageLayout l,
                 const LrnParams& p, Stream s);
void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, ImageLayout l, const LrnParams& p, Stream s);
}  // namespace cuda

// ---- the ops ----

// y and scale (for backward): x's shape, dtype and layout.
void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, const LrnParams& p);
// dx from the forward's x, y, scale and dy (all laid out alike).
void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, const LrnParams& p);

}  // namespace minidl
