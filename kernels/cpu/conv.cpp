// CPU convolution: im2col + OpenBLAS GEMM over small groups of images, the groups spread over
// minidl's threads.
//
// Why: the CIFAR-sized layers minidl trains on a CPU make small GEMMs ([16 x 144] @ [144 x 784]
// per image for a 16-channel 28x28 layer, [64 x 576] @ [576 x 49] at 7x7). One multi-threaded GEMM
// per image splits such products too finely. Instead each thread takes whole groups of images and
// runs single-threaded GEMMs on them (OpenBLAS held at one thread meanwhile), with the column
// buffer in that core's L2 cache. A group holds enough images for ~kTargetColumns output
// positions (1 image at 28x28, 3 at 14x14, 11 at 7x7): the GEMM is wide enough, and the result is
// scattered from [O, G*P] into [G, O, P] (cheap next to the 2K flops per output).
//
// Determinism: forward and dx are per group. dw and db sum over groups in a fixed number of fixed
// chunks (conv_avx2::filter_chunks, from the sizes alone), each into its own partial, and the
// partials are added in chunk order: the same bits for any thread count.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "kernels/conv.h"
#include "kernels/cpu/conv_avx2.h"
#include "kernels/cpu/conv_onednn.h"

namespace minidl {
namespace cpu {
namespace {

// OpenBLAS single-threaded while minidl's threads each run their own GEMMs (restored after).
class BlasSingleThreaded {
 public:
  BlasSingleThreaded() { openblas_set_num_threads(1); }
  ~BlasSingleThreaded() { openblas_set_num_threads(num_threads()); }
};

// OpenBLAS takes 32-bit sizes (blasint): checked, never wrapped.
blasint bi(int64_t v) {
  return to_int32(v, "conv2d: a GEMM size of the im2col convolution");
}

// Row-major C[m, n] = alpha op(A) op(B) + beta C.
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
             int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, bi(m),
              bi(n), bi(k), alpha, a, bi(lda), b, bi(ldb), beta, c, bi(ldc));
}
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
             int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, bi(m),
              bi(n), bi(k), alpha, a, bi(lda), b, bi(ldb), beta, c, bi(ldc));
}

// A per-thread scratch buffer, grown as needed and kept for the next call.
template <typename T>
T* scratch(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// The output columns ow whose input column iw = ow * SW + off lies in [0, W).
void valid_range(int64_t OW, int64_t W, int64_t SW, int64_t off, int64_t& lo, int64_t& hi) {
  // iw >= 0  <=>  ow >= ceil(-off / SW);   iw < W  <=>  ow < ceil((W - off) / SW)
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  lo = std::clamp<int64_t>(ceil_div(-off, SW), 0, OW);
  hi = std::clamp<int64_t>(ceil_div(W - off, SW), lo, OW);
}

// col rows r = (c, kh, kw), each OH*OW wide, with row stride ld: the receptive fields of one image
// x [C, H, W] (zeros for padding).
template <typename T>
void im2col(const T* x, const ConvGeometry& g, T* col, int64_t ld) {
  if (g.SH == 1 && g.SW == 1 && g.OW == g.W) {
    // "Same" width, stride 1 (the 3x3 layers of CIFAR nets): row (c, kh, kw) is plane c shifted by
    // (dh, dw) = (kh DH - PH, kw DW - PW). Its valid output rows are one contiguous run of the
    // plane; the |dw| columns that wrapped across a row boundary are zeroed afterwards.
    const int64_t P = g.OH * g.OW;
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          T* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
          const int64_t dh = kh * g.DH - g.PH, dw = kw * g.DW - g.PW;
          const int64_t lo = std::clamp<int64_t>(-dh, 0, g.OH),
                        hi = std::clamp<int64_t>(g.H - dh, lo, g.OH);
          std::fill(row, row + lo * g.OW, T(0));
          std::fill(row + hi * g.OW, row + P, T(0));
          if (hi == lo) continue;
          // out[oh, ow] = x[oh + dh, ow + dw]: flat, out[i] = x[i + dh W + dw] over the run,
          // clipped to the plane at its two ends (the clipped elements are wrapped columns, zeroed
          // below).
          const T* plane = x + c * g.H * g.W;
          const int64_t b = lo * g.OW, e = hi * g.OW;
          const int64_t shift = dh * g.W + dw;
          const int64_t b_in = std::clamp<int64_t>(-shift, b, e);
          const int64_t e_in = std::clamp<int64_t>(g.H * g.W - shift, b_in, e);
          std::fill(row + b, row + b_in, T(0));
          if (e_in > b_in)
            std::memcpy(row + b_in, plane + b_in + shift,
                        static_cast<size_t>(e_in - b_in) * sizeof(T));
          std::fill(row + e_in, row + e, T(0));
          if (dw != 0)
            for (int64_t oh = lo; oh < hi; ++oh) {
              T* r = row + oh * g.OW;
              if (dw < 0)
                std::fill(r, r + std::min<int64_t>(-dw, g.OW), T(0));
              else
                std::fill(r + std::max<int64_t>(g.OW - dw, 0), r + g.OW, T(0));
            }
        }
    return;
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        const int64_t off = kw * g.DW - g.PW;
        int64_t lo, hi;
        valid_range(g.OW, g.W, g.SW, off, lo, hi);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          T* r = row + oh * g.OW;
          const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) {
            std::fill(r, r + g.OW, T(0));
            continue;
          }
          const T* xr = x + (c * g.H + ih) * g.W;  // input column iw = ow * SW + off
          std::fill(r, r + lo, T(0));
          if (g.SW == 1)
            std::memcpy(r + lo, xr + lo + off, static_cast<size_t>(hi - lo) * sizeof(T));
          else
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * g.SW + off];
          std::fill(r + hi, r + g.OW, T(0));
        }
      }
}

// dx [C, H, W] = the sum of col's entries (layout as im2col's) over the fields they came from.
template <typename T>
void col2im(const T* col, int64_t ld, const ConvGeometry& g, T* dx) {
  std::fill(dx, dx + g.C * g.H * g.W, T(0));
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* row = col + ((c * g.KH + kh) * g.KW + kw) * ld;
        const int64_t off = kw * g.DW - g.PW;
        int64_t lo, hi;
        valid_range(g.OW, g.W, g.SW, off, lo, hi);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          const T* r = row + oh * g.OW;
          T* xr = dx + (c * g.H + ih) * g.W;
          if (g.SW == 1)
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow + off] += r[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow * g.SW + off] += r[ow];
        }
      }
}

// A 1x1 convolution with stride 1 and no padding reads the image itself as its column matrix.
bool is_pointwise(const ConvGeometry& g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0;
}

// Images per GEMM: enough for about kTargetColumns output positions, so that the 7x7 and 14x14
// layers of CIFAR nets still make GEMMs wide enough to run near OpenBLAS's peak.
constexpr int64_t kTargetColumns = 512;

struct Groups {
  int64_t size, count;  // images per group (the last may have fewer), number of groups
};
Groups image_groups(const ConvGeometry& g) {
  const int64_t P = g.OH * g.OW;
  const int64_t size =
      std::clamp<int64_t>((kTargetColumns + P - 1) / P, 1, std::max<int64_t>(g.N, 1));
  return {size, (g.N + size - 1) / size};
}

// The images [n0, n1) of x as one column matrix [K, (n1 - n0) * P] (im2col side by side), or x
// itself for one image of a pointwise convolution.
template <typename T>
const T* group_columns(const T* x, const ConvGeometry& g, int64_t n0, int64_t n1, T* col) {
  const int64_t P = g.OH * g.OW, in_size = g.C * g.H * g.W, ld = (n1 - n0) * P;
  if (n1 - n0 == 1 && is_pointwise(g)) return x + n0 * in_size;
  for (int64_t n = n0; n < n1; ++n) im2col(x + n * in_size, g, col + (n - n0) * P, ld);
  return col;
}

// y = conv(x, w) + b on raw NCHW pointers (b may be null).
template <typename T>
void forward_raw(const T* px, const T* pw, const T* pb, T* py, const ConvGeometry& g) {
  const int64_t K = g.C * g.KH * g.KW, P = g.OH * g.OW;
  const Groups gr = image_groups(g);
  parallel_for(gr.count, 1, [&](int64_t g0, int64_t g1) {
    T* col = scratch<T>(static_cast<size_t>(K * gr.size * P + g.O * gr.size * P));
    T* out = col + K * gr.size * P;  // [O, G * P] when G > 1
    for (int64_t gi = g0; gi < g1; ++gi) {
      const int64_t n0 = gi * gr.size, n1 = std::min(g.N, n0 + gr.size), G = n1 - n0;
      const T* cols = group_columns(px, g, n0, n1, col);
      T* dst = G == 1 ? py + n0 * g.O * P : out;
      // y [O, G * P] = w [O, K] @ col [K, G * P]
      gemm_rm(false, false, g.O, G * P, K, T(1), pw, K, cols, G * P, T(0), dst, G * P);
      for (int64_t n = n0; n < n1; ++n)  // scatter into y [n, O, P] and add the bias
        for (int64_t o = 0; o < g.O; ++o) {
          T* yr = py + (n * g.O + o) * P;
          if (G > 1)
            std::memcpy(yr, out + o * G * P + (n - n0) * P, static_cast<size_t>(P) * sizeof(T));
          if (pb)
            for (int64_t i = 0; i < P; ++i) yr[i] += pb[o];
        }
    }
  });
}

// Backward-data of a stride-1 convolution is itself a stride-1 convolution: of dy, padded by
// (K - 1) * D - P, with the filters transposed (in <-> out) and flipped in space. Running it
// through forward_raw avoids the col2im scatter and the [K, P] GEMM with a reduction of only O
// terms.
bool dx_as_convolution(const ConvGeometry& g) {
  return g.SH == 1 && g.SW == 1 && (g.KH - 1) * g.DH >= g.PH && (g.KW - 1) * g.DW >= g.PW;
}

template <typename T>
void backward_data_as_convolution(const T* pdy, const T* pw, T* pdx, const ConvGeometry& g) {
  std::vector<T> wt(static_cast<size_t>(g.O * g.C * g.KH * g.KW));  // [C, O, KH, KW], flipped
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw)
          wt[((c * g.O + o) * g.KH + (g.KH - 1 - kh)) * g.KW + (g.KW - 1 - kw)] =
              pw[((o * g.C + c) * g.KH + kh) * g.KW + kw];
  ConvGeometry t = g;
  t.C = g.O, t.H = g.OH, t.W = g.OW;
  t.O = g.C, t.OH = g.H, t.OW = g.W;
  t.PH = (g.KH - 1) * g.DH - g.PH, t.PW = (g.KW - 1) * g.DW - g.PW;
  if constexpr (std::is_same_v<T, float>)
    if (conv_avx2::available() && conv_avx2::suits(t)) {
      conv_avx2::forward(pdy, wt.data(), nullptr, pdx, t);
      return;
    }
  forward_raw<T>(pdy, wt.data(), nullptr, pdx, t);
}

template <typename T>
void backward_typed(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                    const Tensor& dw, const Tensor& db, const ConvGeometry& g) {
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pdy = dy.data<T>();
  T* pdx = dx.defined() ? dx.data<T>() : nullptr;
  const int64_t K = g.C * g.KH * g.KW, P = g.OH * g.OW, in_size = g.C * g.H * g.W;
  const Groups gr = image_groups(g);
  const int64_t wanted = conv_avx2::filter_chunks(gr.count, g.O * K);
  const int64_t grain = (gr.count + wanted - 1) / wanted;
  const int64_t chunks = parallel_chunks(gr.count, grain);
  bool want_w = dw.defined(), want_b = db.defined();
  const bool dx_by_conv = pdx && dx_as_convolution(g);
  if constexpr (std::is_same_v<T, float>)
    if (want_w && conv_avx2::available() && conv_avx2::suits_filter(g)) {
      conv_avx2::backward_filter(px, pdy, dw.data<float>(), want_b ? db.data<float>() : nullptr, g,
                                 conv_avx2::filter_chunks(g.N, g.O * K));
      want_w = want_b = false;
    }
  // Per-chunk partial sums of dw [O, K] and db [O], added in chunk order below.
  // (uninitialised: each chunk zeroes its own, in parallel)
  std::unique_ptr<T[]> part_w(want_w ? new T[static_cast<size_t>(chunks * g.O * K)] : nullptr);
  std::unique_ptr<T[]> part_b(want_b ? new T[static_cast<size_t>(chunks * g.O)] : nullptr);
  if (want_w || want_b || (pdx && !dx_by_conv))
    parallel_for(gr.count, grain, [&](int64_t g0, int64_t g1) {
      const int64_t chunk = g0 / grain;
      if (want_w)
        std::fill(part_w.get() + chunk * g.O * K, part_w.get() + (chunk + 1) * g.O * K, T(0));
      if (want_b) std::fill(part_b.get() + chunk * g.O, part_b.get() + (chunk + 1) * g.O, T(0));
      T* col = scratch<T>(static_cast<size_t>(K * gr.size * P + g.O * gr.size * P));
      T* dyg = col + K * gr.size * P;  // dy of the group as [O, G * P] when G > 1
      for (int64_t gi = g0; gi < g1; ++gi) {
        const int64_t n0 = gi * gr.size, n1 = std::min(g.N, n0 + gr.size), G = n1 - n0;
        const T* dys = pdy + n0 * g.O * P;
        if (G > 1) {
          for (int64_t n = n0; n < n1; ++n)
            for (int64_t o = 0; o < g.O; ++o)
              std::memcpy(dyg + o * G * P + (n - n0) * P, pdy + (n * g.O + o) * P,
                          static_cast<size_t>(P) * sizeof(T));
          dys = dyg;
        }
        if (want_b) {
          T* pb = part_b.get() + chunk * g.O;
          for (int64_t o = 0; o < g.O; ++o) {
            const T* r = dys + o * G * P;
            T sum = 0;
            for (int64_t i = 0; i < G * P; ++i) sum += r[i];
            pb[o] += sum;
          }
        }
        if (want_w) {  // dw_chunk [O, K] += dy [O, G * P] @ col^T [G * P, K]
          const T* cols = group_columns(px, g, n0, n1, col);
          gemm_rm(false, true, g.O, K, G * P, T(1), dys, G * P, cols, G * P, T(1),
                  part_w.get() + chunk * g.O * K, K);
        }
        if (!pdx || dx_by_conv) continue;
        if (G == 1 && is_pointwise(g)) {  // dx_n [C, P] = w^T [C, O] @ dy_n [O, P]
          gemm_rm(true, false, K, P, g.O, T(1), pw, K, dys, P, T(0), pdx + n0 * in_size, P);
          continue;
        }
        // dcol [K, G * P] = w^T [K, O] @ dy [O, G * P], then scattered back onto each image
        gemm_rm(true, false, K, G * P, g.O, T(1), pw, K, dys, G * P, T(0), col, G * P);
        for (int64_t n = n0; n < n1; ++n) col2im(col + (n - n0) * P, G * P, g, pdx + n * in_size);
      }
    });
  if (dx_by_conv) backward_data_as_convolution(pdy, pw, pdx, g);
  if (want_w) conv_avx2::add_partials(part_w.get(), chunks, g.O * K, dw.data<T>());
  if (want_b) conv_avx2::add_partials(part_b.get(), chunks, g.O, db.data<T>());
}

// Channels-last tensors on the reference path: NCHW copies in, results copied back.
Tensor nchw(const Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}
void copy_back(const Tensor& dst, const Tensor& nchw_result) {
  Tensor view = dst;  // shares dst's storage
  if (view.defined()) view.copy_(nchw_result);
}

bool use_onednn(const Tensor& x) {
  return x.dtype() == DType::f32 && cpu_conv() == CpuConv::onednn;
}

void reference_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                       const ConvGeometry& g) {
  BlasSingleThreaded single;
  visit_floating(x.dtype(), "conv2d_forward", [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float>)
      if (conv_avx2::available() && conv_avx2::suits(g)) {
        conv_avx2::forward(x.data<float>(), w.data<float>(),
                           b.defined() ? b.data<float>() : nullptr, y.data<float>(), g);
        return;
      }
    forward_raw<T>(x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(), g);
  });
}

// A 16-bit tensor widened to f32 (exact), in its layout; an undefined one stays undefined.
Tensor widened(const Tensor& t) {
  return t.defined() ? t.to(DType::f32) : t;
}

// An f32 tensor for a 16-bit result, in the layout the geometry runs in.
Tensor f32_like(const Tensor& t, const ConvGeometry& g) {
  return Tensor::empty(t.shape(), DType::f32, Device::cpu(),
                       g.channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous);
}

}  // namespace

// bf16 / f16: the operands widened to f32, the f32 path, each result rounded once (copy converts
// to nearest, ties to even, as core/half.h does): the values a 16-bit convolution with f32
// accumulation gives, and those of the f32-storage rounding (kernels/precision.h) bit for bit.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvGeometry& g, Stream s) {
  if (is_16bit_float(x.dtype())) {
    Tensor y32 = f32_like(y, g);
    conv2d_forward(widened(x), widened(w), Tensor(), y32, g, s);
    Tensor(y).copy_(y32);
    return;
  }
  if (use_onednn(x)) {
    conv_onednn::forward(x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                         y.data<float>(), g);
    return;
  }
  if (!g.channels_last) return reference_forward(x, w, b, y, g);
  ConvGeometry plain = g;
  plain.channels_last = false;
  Tensor yc = Tensor::empty(y.shape(), y.dtype());
  reference_forward(nchw(x), w, b, yc, plain);
  copy_back(y, yc);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvGeometry& g, Stream s) {
  if (is_16bit_float(x.dtype())) {  // dw: its f32 value plus the f32 sums, rounded once
    Tensor dx32 = dx.defined() ? f32_like(dx, g) : Tensor(), dw32 = widened(dw);
    conv2d_backward(widened(x), widened(w), widened(dy), dx32, dw32, Tensor(), g, s);
    if (dx.defined()) Tensor(dx).copy_(dx32);
    if (dw.defined()) Tensor(dw).copy_(dw32);
    return;
  }
  if (use_onednn(x)) {
    if (dx.defined())
      conv_onednn::backward_data(dy.data<float>(), w.data<float>(), dx.data<float>(), g);
    if (dw.defined() || db.defined())
      conv_onednn::backward_weights(x.data<float>(), dy.data<float>(),
                                    dw.defined() ? dw.data<float>() : nullptr,
                                    db.defined() ? db.data<float>() : nullptr, g);
    return;
  }
  BlasSingleThreaded single;
  if (!g.channels_last) {
    visit_floating(x.dtype(), "conv2d_backward",
                   [&](auto z) { backward_typed<decltype(z)>(x, w, dy, dx, dw, db, g); });
    return;
  }
  ConvGeometry plain = g;
  plain.channels_last = false;
  Tensor dxc = dx.defined() ? Tensor::empty(dx.shape(), dx.dtype()) : Tensor();
  visit_floating(x.dtype(), "conv2d_backward", [&](auto z) {
    backward_typed<decltype(z)>(nchw(x), w, nchw(dy), dxc, dw, db, plain);
  });
  copy_back(dx, dxc);
}

}  // namespace cpu
}  // namespace minidl
