// 2-d pooling over [N, C, H, W] (NCHW or NHWC, f32 or f64): max, average and global average.
// Output sizes follow PyTorch (and Caffe): floor or ceil mode, and in ceil mode the last window
// must start inside the input or its left padding. Max pooling pads with -inf and records, per
// output, the argmax as h * W + w within its (n, c) plane; its backward adds dy at the argmax
// (a scatter on the CPU, a gather on CUDA; both add in ascending output order, so the same bits).
// Average pooling divides by the window clipped to the padded input (count_include_pad,
// PyTorch's default and Caffe's behaviour) or by the number of real input values in it; its
// backward is a gather (each input element sums the outputs whose windows hold it).
#pragma once

#include "core/dispatch.h"
#include "kernels/image_layout.h"

namespace minidl {

struct PoolGeometry {
  ImageLayout in, out;  // [N, C, H, W] and [N, C, OH, OW], one layout kind
  int64_t KH, KW, SH, SW, PH, PW;
  bool count_include_pad;  // average pooling only
};

// ---- element math ----

// The outputs o (along one dimension) whose window [o*S - P, o*S - P + K) holds input position h.
MINIDL_HD void pool_windows_holding(int64_t h, int64_t K, int64_t S, int64_t P, int64_t out_size,
                                    int64_t& lo, int64_t& hi) {
  int64_t a = h + P - K + 1;  // o*S >= a  and  o*S <= h + P
  lo = a <= 0 ? 0 : (a + S - 1) / S;
  hi = (h + P) / S + 1;
  if (hi > out_size) hi = out_size;
}

// Max over the window with top-left corner (h0, w0) (in padded coordinates, so possibly negative)
// of one (n, c) plane: `plane` points at element (n, c, 0, 0) and `step` is the memory distance
// between neighbouring w (1 for NCHW, C for NHWC). Writes the argmax as h * W + w within the plane
// when `argmax` is not null (eval mode passes null). The first maximum wins; a NaN wins and stays
// (it propagates, as in PyTorch). Multiplications only: the twins find (h0, w0) their own way.
template <typename T>
MINIDL_HD T max_pool_window(const T* plane, const PoolGeometry& g, int64_t step, int64_t h0,
                            int64_t w0, int32_t* argmax) {
  const int64_t hb = h0 < 0 ? 0 : h0, wb = w0 < 0 ? 0 : w0;
  const int64_t he = h0 + g.KH < g.in.H ? h0 + g.KH : g.in.H;
  const int64_t we = w0 + g.KW < g.in.W ? w0 + g.KW : g.in.W;
  int64_t best_i = hb * g.in.W + wb;  // every window holds an input element (pool_geometry)
  T best = plane[best_i * step];
  for (int64_t h = hb; h < he; ++h)
    for (int64_t w = h == hb ? wb + 1 : wb; w < we; ++w) {
      // v wins when greater or a NaN, but nothing displaces a NaN (the first one stays). Integer
      // arithmetic rather than a branch (which compilers emit even for a ?: here): which value
      // wins depends on the data, and a mispredicted branch costs more than the whole window.
      const int64_t i = h * g.in.W + w;
      const T v = plane[i * step];
      const int64_t take = (best == best) & ((v > best) | (v != v));
      best_i += (i - best_i) * take;
      best = plane[best_i * step];
    }
  if (argmax) *argmax = static_cast<int32_t>(best_i);
  return best;
}

// Max over the window of output element j (memory offset in y), for one thread per output.
template <typename T>
MINIDL_HD T max_pool_element(const T* x, const PoolGeometry& g, int64_t j, int32_t* argmax) {
  int64_t n, c, oh, ow;
  image_coords(g.out, j, n, c, oh, ow);
  const T* plane = x + image_offset(g.in, n, c, 0, 0);
  const int64_t step = g.in.channels_last ? g.in.C : 1;
  return max_pool_window(plane, g, step, oh * g.SH - g.PH, ow * g.SW - g.PW, argmax);
}

// dx at input memory offset i: the dy of every output whose argmax is this element, summed in
// ascending output order from 0 (the CPU twin's scatter adds in the same order: same bits).
template <typename T>
MINIDL_HD T max_pool_backward_element(const T* dy, const int32_t* argmax, const PoolGeometry& g,
                                      int64_t i) {
  int64_t n, c, h, w;
  image_coords(g.in, i, n, c, h, w);
  int64_t oh0, oh1, ow0, ow1;
  pool_windows_holding(h, g.KH, g.SH, g.PH, g.out.H, oh0, oh1);
  pool_windows_holding(w, g.KW, g.SW, g.PW, g.out.W, ow0, ow1);
  const int32_t me = static_cast<int32_t>(h * g.in.W + w);
  T sum = T(0);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      int64_t j = image_offset(g.out, n, c, oh, ow);
      if (argmax[j] == me) sum += dy[j];
    }
  return sum;
}

// The divisor of output (oh, ow)'s window.
MINIDL_HD int64_t avg_pool_divisor(const PoolGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
  int64_t h1 = h0 + g.KH, w1 = w0 + g.KW;
  if (h1 > g.in.H + g.PH) h1 = g.in.H + g.PH;
  if (w1 > g.in.W + g.PW) w1 = g.in.W + g.PW;
  if (!g.count_include_pad) {
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > g.in.H) h1 = g.in.H;
    if (w1 > g.in.W) w1 = g.in.W;
  }
  int64_t d = (h1 - h0) * (w1 - w0);
  return d > 0 ? d : 1;
}

template <typename T>
MINIDL_HD T avg_pool_element(const T* x, const PoolGeometry& g, int64_t j) {
  int64_t n, c, oh, ow;
  image_coords(g.out, j, n, c, oh, ow);
  const int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
  T sum = T(0);
  for (int64_t h = h0 < 0 ? 0 : h0; h < h0 + g.KH && h < g.in.H; ++h)
    for (int64_t w = w0 < 0 ? 0 : w0; w < w0 + g.KW && w < g.in.W; ++w)
      sum += x[image_offset(g.in, n, c, h, w)];
  return sum / static_cast<T>(avg_pool_divisor(g, oh, ow));
}

template <typename T>
MINIDL_HD T avg_pool_backward_element(const T* dy, const PoolGeometry& g, int64_t i) {
  int64_t n, c, h, w;
  image_coords(g.in, i, n, c, h, w);
  int64_t oh0, oh1, ow0, ow1;
  pool_windows_holding(h, g.KH, g.SH, g.PH, g.out.H, oh0, oh1);
  pool_windows_holding(w, g.KW, g.SW, g.PW, g.out.W, ow0, ow1);
  T sum = T(0);
  for (int64_t oh = oh0; oh < oh1; ++oh)
    for (int64_t ow = ow0; ow < ow1; ++ow)
      sum += dy[image_offset(g.out, n, c, oh, ow)] / static_cast<T>(avg_pool_divisor(g, oh, ow));
  return sum;
}

// Global average of plane (n, c) = output element j of y [N, C, 1, 1].
template <typename T>
MINIDL_HD T global_avg_pool_element(const T* x, const ImageLayout& l, int64_t j) {
  const int64_t n = j / l.C, c = j % l.C;
  T sum = T(0);
  for (int64_t h = 0; h < l.H; ++h)
    for (int64_t w = 0; w < l.W; ++w) sum += x[image_offset(l, n, c, h, w)];
  return sum / static_cast<T>(l.H * l.W);
}

// ---- twins ----

enum class PoolKind { max, avg };

namespace cpu {
void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolGeometry& g, Stream s);
void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolGeometry& g, Stream s);
void global_avg_pool_forward(const Tensor& x, const Tensor& y, ImageLayout l, Stream s);
void global_avg_pool_backward(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream s);
}  // namespace cpu
namespace cuda {
void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolGeometry& g, Stream s);
void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolGeometry& g, Stream s);
void global_avg_pool_forward(const Tensor& x, const Tensor& y, ImageLayout l, Stream s);
void global_avg_pool_backward(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream s);
}  // namespace cuda

// ---- the ops ----

struct PoolParams {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

// Output size of one dimension (PyTorch's pooling_output_shape); throws if < 1 or if the padding
// is more than half the kernel.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode);

// The geometry of pooling x with p (checks x: 4-d, dense, f32/f64).
PoolGeometry pool_geometry(const char* op, const Tensor& x, const PoolParams& p);

// y = pool(x): y [N, C, OH, OW] in x's layout. Max pooling also writes argmax (i32, y's shape and
// layout) for the backward pass when it is defined (undefined: eval mode, nothing recorded);
// average pooling ignores it.
void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolParams& p);
// dx (x's shape, dy's layout) written from dy (and the forward's argmax for max pooling).
void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolParams& p);

// y [N, C, 1, 1] = mean of x [N, C, H, W] over H, W; backward: dx = dy / (H * W) broadcast.
void global_avg_pool_forward(const Tensor& x, const Tensor& y);
void global_avg_pool_backward(const Tensor& dy, const Tensor& dx);

}  // namespace minidl
