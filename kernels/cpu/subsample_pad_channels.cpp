// CPU option-A shortcut: strided copies that walk planes (NCHW) or rows (NHWC) in parallel and
// write every output element exactly once, a zero or a copied value, without the per-element
// coordinate divisions of the header's element functions (which the CUDA twin runs, one thread
// per element, and which the tests use as the reference: a copy, so the same bits).
#include <algorithm>
#include <type_traits>

#include "core/parallel.h"
#include "kernels/subsample_pad_channels.h"

namespace minidl {
namespace cpu {
namespace {

// Parallel over `units` (planes or rows) of `per_unit` outputs each.
template <typename F>
void for_each_unit(int64_t units, int64_t per_unit, F f) {
  parallel_for(units, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, per_unit)),
               [&](int64_t b, int64_t e) {
                 for (int64_t u = b; u < e; ++u) f(u);
               });
}

// y plane u = (n, c): zeros for a padding channel, else x plane (n, c - front) subsampled.
template <typename T>
void forward_nchw(const T* x, T* y, const SubsamplePad& p) {
  const int64_t s = p.stride, OHW = p.y.H * p.y.W;
  for_each_unit(p.y.N * p.y.C, OHW, [&](int64_t u) {
    const int64_t n = u / p.y.C, cx = u % p.y.C - p.front;
    T* out = y + u * OHW;
    if (cx < 0 || cx >= p.x.C) {
      std::fill(out, out + OHW, T(0));
      return;
    }
    const T* plane = x + (n * p.x.C + cx) * p.x.H * p.x.W;
    for (int64_t oh = 0; oh < p.y.H; ++oh) {
      const T* row = plane + oh * s * p.x.W;
      for (int64_t ow = 0; ow < p.y.W; ++ow) *out++ = row[ow * s];
    }
  });
}

// y row u = (n, oh): per position, `front` zeros, x's Cx channels at (n, oh*s, ow*s), zeros.
template <typename T>
void forward_nhwc(const T* x, T* y, const SubsamplePad& p) {
  const int64_t s = p.stride, Cx = p.x.C, Cy = p.y.C;
  for_each_unit(p.y.N * p.y.H, p.y.W * Cy, [&](int64_t u) {
    const int64_t n = u / p.y.H, oh = u % p.y.H;
    T* out = y + u * p.y.W * Cy;
    for (int64_t ow = 0; ow < p.y.W; ++ow, out += Cy) {
      const T* src = x + ((n * p.x.H + oh * s) * p.x.W + ow * s) * Cx;
      std::fill(out, out + p.front, T(0));
      std::copy(src, src + Cx, out + p.front);
      std::fill(out + p.front + Cx, out + Cy, T(0));
    }
  });
}

// dx plane u = (n, c): dy plane (n, c + front) at every s-th row and column, zeros between.
template <typename T>
void backward_nchw(const T* dy, T* dx, const SubsamplePad& p) {
  const int64_t s = p.stride, H = p.x.H, W = p.x.W;
  for_each_unit(p.x.N * p.x.C, H * W, [&](int64_t u) {
    const int64_t n = u / p.x.C, c = u % p.x.C;
    const T* plane = dy + (n * p.y.C + c + p.front) * p.y.H * p.y.W;
    T* out = dx + u * H * W;
    for (int64_t h = 0; h < H; ++h, out += W) {
      if (h % s != 0) {
        std::fill(out, out + W, T(0));
        continue;
      }
      const T* src = plane + (h / s) * p.y.W;
      for (int64_t ow = 0, w = 0; ow < p.y.W; ++ow, w += s) {
        out[w] = src[ow];
        std::fill(out + w + 1, out + std::min(w + s, W), T(0));
      }
    }
  });
}

// dx row u = (n, h): at every s-th row and column, dy's channels [front, front + Cx); else zeros.
template <typename T>
void backward_nhwc(const T* dy, T* dx, const SubsamplePad& p) {
  const int64_t s = p.stride, Cx = p.x.C, W = p.x.W;
  for_each_unit(p.x.N * p.x.H, W * Cx, [&](int64_t u) {
    const int64_t n = u / p.x.H, h = u % p.x.H;
    T* out = dx + u * W * Cx;
    if (h % s != 0) {
      std::fill(out, out + W * Cx, T(0));
      return;
    }
    const T* src_row = dy + ((n * p.y.H + h / s) * p.y.W) * p.y.C + p.front;
    for (int64_t w = 0; w < W; ++w, out += Cx) {
      if (w % s != 0) {
        std::fill(out, out + Cx, T(0));
      } else {
        const T* src = src_row + (w / s) * p.y.C;
        std::copy(src, src + Cx, out);
      }
    }
  });
}

}  // namespace

void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream) {
  visit_activation(out.dtype(), "subsample_pad_channels", [&](auto z) {
    // A copy moves bits: bf16/f16 as uint16_t, whose 0 is +0.0 in both.
    using S = decltype(z);
    using T = std::conditional_t<sizeof(S) == 2, uint16_t, S>;
    const T* src = reinterpret_cast<const T*>(in.data<S>());
    T* dst = reinterpret_cast<T*>(out.data<S>());
    if (backward)
      p.x.channels_last ? backward_nhwc(src, dst, p) : backward_nchw(src, dst, p);
    else
      p.y.channels_last ? forward_nhwc(src, dst, p) : forward_nchw(src, dst, p);
  });
}

}  // namespace cpu
}  // namespace minidl
