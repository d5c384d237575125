// CPU pooling. Max pooling walks (n, c) planes (NCHW) or images (NHWC) in parallel, finding each
// window's corner by counting rather than dividing; its backward scatters dy to the stored argmax,
// outputs in ascending order within a plane, so every dx element sums its outputs in the order of
// the CUDA twin's gather (same bits, for any thread count). Average pooling runs the header's
// element functions over the output (forward) or the input (backward), in parallel chunks. Global
// average pooling walks planes (NCHW) or images (NHWC, summing all channels of a pixel at once, in
// the element function's order per channel); its backward fills planes or pixels with dy / (H*W)
// instead of dividing every index into coordinates (10-20x slower). Global average pooling runs
// through the ISA launcher (kernels/cpu/isa_dispatch.h); no sum changes order, so the bits are the
// same on every ISA.
#include <algorithm>

#include "core/parallel.h"
#include "kernels/cpu/isa_dispatch.h"
#include "kernels/pool.h"

namespace minidl {
namespace cpu {
namespace {

constexpr int64_t kGrain = 1 << 12;

template <typename F>
void for_each_index(int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

// Parallel over the `units` (planes or images) that each hold `per_unit` outputs.
template <typename F>
void for_each_unit(int64_t units, int64_t per_unit, F f) {
  parallel_for(units, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, per_unit)),
               [&](int64_t b, int64_t e) {
                 for (int64_t u = b; u < e; ++u) f(u);
               });
}

// The same through the ISA launcher: for global average pooling only. Max pooling's window walk (a
// load whose address depends on the last comparison), its scatter and average pooling's index
// arithmetic do not vectorise; their AVX-512 copies were 2-12% slower or no faster (lenet's
// 128x20x24x24 max pool forward 2.5 -> 2.8 ms, 2 threads).
template <typename F>
void for_each_unit_isa(int64_t units, int64_t per_unit, F f) {
  isa_parallel_for(units, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, per_unit)), f);
}

// argmax may be null (eval mode: nothing recorded).
template <typename T>
void max_forward(const T* x, T* y, int32_t* argmax, const PoolGeometry& g) {
  const int64_t HW = g.in.H * g.in.W, OHW = g.out.H * g.out.W;
  if (!g.in.channels_last) {  // plane p = n * C + c: x + p * HW, y + p * OHW
    for_each_unit(g.in.N * g.in.C, OHW * g.KH * g.KW, [&](int64_t p) {
      const T* plane = x + p * HW;
      int64_t j = p * OHW;
      for (int64_t oh = 0; oh < g.out.H; ++oh)
        for (int64_t ow = 0; ow < g.out.W; ++ow, ++j)
          y[j] = max_pool_window(plane, g, 1, oh * g.SH - g.PH, ow * g.SW - g.PW,
                                 argmax ? argmax + j : nullptr);
    });
    return;
  }
  const int64_t C = g.in.C;  // NHWC: image n; channel c's plane starts at x + n * HW * C + c
  for_each_unit(g.in.N, OHW * C * g.KH * g.KW, [&](int64_t n) {
    int64_t j = n * OHW * C;
    for (int64_t oh = 0; oh < g.out.H; ++oh)
      for (int64_t ow = 0; ow < g.out.W; ++ow)
        for (int64_t c = 0; c < C; ++c, ++j)
          y[j] = max_pool_window(x + n * HW * C + c, g, C, oh * g.SH - g.PH, ow * g.SW - g.PW,
                                 argmax ? argmax + j : nullptr);
  });
}

// An argmax the forward wrote is always in its plane; one from elsewhere that is not must not
// make the scatter write outside dx (the CUDA gather ignores it as well).
inline bool in_plane(int32_t a, int64_t HW) {
  return a >= 0 && a < HW;
}

// dx = 0, then dx[argmax[j]] += dy[j] for the outputs j of each plane in ascending order.
template <typename T>
void max_backward(const T* dy, const int32_t* argmax, T* dx, const PoolGeometry& g) {
  const int64_t HW = g.in.H * g.in.W, OHW = g.out.H * g.out.W;
  if (!g.in.channels_last) {
    for_each_unit(g.in.N * g.in.C, OHW + HW, [&](int64_t p) {
      T* plane = dx + p * HW;
      std::fill(plane, plane + HW, T(0));
      for (int64_t j = p * OHW; j < (p + 1) * OHW; ++j)
        if (in_plane(argmax[j], HW)) plane[argmax[j]] += dy[j];
    });
    return;
  }
  const int64_t C = g.in.C;  // NHWC: within image n, output (oh, ow, c) goes to dx[a * C + c]
  for_each_unit(g.in.N, (OHW + HW) * C, [&](int64_t n) {
    T* image = dx + n * HW * C;
    std::fill(image, image + HW * C, T(0));
    const int64_t j0 = n * OHW * C;
    for (int64_t q = 0; q < OHW; ++q)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t j = j0 + q * C + c;
        if (in_plane(argmax[j], HW)) image[static_cast<int64_t>(argmax[j]) * C + c] += dy[j];
      }
  });
}

template <typename T>
void forward_typed(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                   const PoolGeometry& g) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  if (kind == PoolKind::max) {
    max_forward(px, py, argmax.defined() ? argmax.data<int32_t>() : nullptr, g);
  } else {
    for_each_index(y.numel(), [&](int64_t j) { py[j] = avg_pool_element(px, g, j); });
  }
}

template <typename T>
void backward_typed(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                    const PoolGeometry& g) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  if (kind == PoolKind::max) {
    max_backward(pdy, argmax.data<int32_t>(), pdx, g);
  } else {
    for_each_index(dx.numel(), [&](int64_t i) { pdx[i] = avg_pool_backward_element(pdy, g, i); });
  }
}

}  // namespace

void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolGeometry& g, Stream) {
  visit_floating(x.dtype(), "pool2d_forward",
                 [&](auto z) { forward_typed<decltype(z)>(kind, x, y, argmax, g); });
}

void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolGeometry& g, Stream) {
  visit_floating(dx.dtype(), "pool2d_backward",
                 [&](auto z) { backward_typed<decltype(z)>(kind, dy, argmax, dx, g); });
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y, ImageLayout l, Stream) {
  visit_floating(x.dtype(), "global_avg_pool_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t HW = l.H * l.W, C = l.C;
    if (!l.channels_last) {
      // Groups of 8 planes summed side by side, each in the element function's order: 8
      // independent chains of additions (one chain waits on every add's latency).
      constexpr int64_t G = 8;
      const int64_t planes = l.N * C;
      for_each_unit_isa((planes + G - 1) / G, G * HW, [&](int64_t u) {
        const int64_t j0 = u * G;
        if (j0 + G > planes) {
          for (int64_t j = j0; j < planes; ++j) py[j] = global_avg_pool_element(px, l, j);
          return;
        }
        T acc[G] = {};
        const T* x0 = px + j0 * HW;
        for (int64_t q = 0; q < HW; ++q)
          for (int64_t k = 0; k < G; ++k) acc[k] += x0[k * HW + q];
        for (int64_t k = 0; k < G; ++k) py[j0 + k] = acc[k] / static_cast<T>(HW);
      });
      return;
    }
    // NHWC: y[n, c] = (0 + x[n, 0, c] + x[n, 1, c] + ...) / HW, the element function's sum,
    // accumulated in y for all channels of a pixel at once (contiguous: vectorised).
    for_each_unit_isa(l.N, HW * C, [&](int64_t n) {
      T* out = py + n * C;
      const T* image = px + n * HW * C;
      for (int64_t c = 0; c < C; ++c) out[c] = T(0);
      for (int64_t q = 0; q < HW; ++q)
        for (int64_t c = 0; c < C; ++c) out[c] += image[q * C + c];
      for (int64_t c = 0; c < C; ++c) out[c] /= static_cast<T>(HW);
    });
  });
}

// dx[n, c, h, w] = dy[n, c] * (1 / HW): plane (n, c) of NCHW, or pixel (n, h, w)'s channels of
// NHWC.
void global_avg_pool_backward(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream) {
  visit_floating(dx.dtype(), "global_avg_pool_backward", [&](auto z) {
    using T = decltype(z);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const int64_t HW = l.H * l.W, C = l.C;
    const T inv = T(1) / static_cast<T>(HW);
    if (!l.channels_last) {
      for_each_unit_isa(l.N * C, HW, [&](int64_t p) {
        const T v = pdy[p] * inv;
        T* plane = pdx + p * HW;
        for (int64_t q = 0; q < HW; ++q) plane[q] = v;
      });
      return;
    }
    for_each_unit_isa(l.N * HW, C, [&](int64_t u) {  // pixel u of image n = u / HW
      const T* g = pdy + (u / HW) * C;
      T* pixel = pdx + u * C;
      for (int64_t c = 0; c < C; ++c) pixel[c] = g[c] * inv;
    });
  });
}

}  // namespace cpu
}  // namespace minidl
