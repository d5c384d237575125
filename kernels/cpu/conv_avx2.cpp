// Direct stride-1 f32 convolution on AVX2 + FMA (see conv_avx2.h for why).
//
// Per image: copy x into a zero-padded plane per channel, xp [C][Hp][Wp] with Hp = H + 2 PH and a
// row stride Wp = OWp + (KW - 1) DW (OWp = OW rounded up to 8), so every tap of every output is a
// plain load: out[o][oh][ow] = sum_{c,kh,kw} w[o][c][kh][kw] xp[c][oh + kh DH][ow + kw DW].
// The micro-kernel holds 4 output channels x NV vectors of 8 outputs of one row (NV = 2: 8
// accumulators): per tap NV loads, 4 broadcasts of the packed weights, 4 NV FMAs (FMA-bound).
// Weights are packed as [O/4][C][KH][KW][4] (zeros past O). The row is written to a small buffer
// and copied out, so the padded outputs past OW are never stored.
#include "kernels/cpu/conv_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"

namespace minidl {
namespace cpu {
namespace conv_avx2 {
namespace {

constexpr int64_t kOB = 4;  // output channels per micro-kernel

struct Plan {
  int64_t OWp, Hp, Wp, blocks;  // blocks = ceil(O / kOB)
};

Plan plan_for(const ConvGeometry& g) {
  Plan p;
  p.OWp = (g.OW + 7) / 8 * 8;
  p.Hp = g.H + 2 * g.PH;
  p.Wp = p.OWp + (g.KW - 1) * g.DW;
  p.blocks = (g.O + kOB - 1) / kOB;
  return p;
}

// out[r][8 j + i] (r < 4, j < NV) for one row strip; x points at xp[0][oh][ow]. The accumulators
// are named variables (not an array) so that they stay in registers.
// KS = 3: a 3x3 filter known at compile time (its tap loops unroll); KS = 0: any size.
template <int NV, int KS>
__attribute__((target("avx2,fma"))) void micro(const float* x, int64_t plane, int64_t Wp,
                                               const float* w, const ConvGeometry& g, float* out,
                                               int64_t ld) {
  const int64_t C = g.C, row_step = g.DH * Wp, DW = g.DW;
  const int64_t KH = KS ? KS : g.KH, KW = KS ? KS : g.KW;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // vector 0 of channels 0..3
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                   // vector 1 (NV == 2)
  for (int64_t c = 0; c < C; ++c) {
    const float* xr = x + c * plane;
    for (int64_t kh = 0; kh < KH; ++kh, xr += row_step) {
      const float* xt = xr;
      for (int64_t kw = 0; kw < KW; ++kw, w += kOB, xt += DW) {
        const __m256 x0 = _mm256_loadu_ps(xt);
        const __m256 w0 = _mm256_broadcast_ss(w), w1 = _mm256_broadcast_ss(w + 1),
                     w2 = _mm256_broadcast_ss(w + 2), w3 = _mm256_broadcast_ss(w + 3);
        a0 = _mm256_fmadd_ps(w0, x0, a0);
        a1 = _mm256_fmadd_ps(w1, x0, a1);
        a2 = _mm256_fmadd_ps(w2, x0, a2);
        a3 = _mm256_fmadd_ps(w3, x0, a3);
        if constexpr (NV == 2) {
          const __m256 x1 = _mm256_loadu_ps(xt + 8);
          b0 = _mm256_fmadd_ps(w0, x1, b0);
          b1 = _mm256_fmadd_ps(w1, x1, b1);
          b2 = _mm256_fmadd_ps(w2, x1, b2);
          b3 = _mm256_fmadd_ps(w3, x1, b3);
        }
      }
    }
  }
  _mm256_storeu_ps(out, a0);
  _mm256_storeu_ps(out + ld, a1);
  _mm256_storeu_ps(out + 2 * ld, a2);
  _mm256_storeu_ps(out + 3 * ld, a3);
  if constexpr (NV == 2) {
    _mm256_storeu_ps(out + 8, b0);
    _mm256_storeu_ps(out + ld + 8, b1);
    _mm256_storeu_ps(out + 2 * ld + 8, b2);
    _mm256_storeu_ps(out + 3 * ld + 8, b3);
  }
}

// One image: x [C, H, W] -> y [O, OH, OW]. xp and row are per-thread scratch.
__attribute__((target("avx2,fma"))) void image(const float* x, const float* wpk, const float* b,
                                               float* y, const ConvGeometry& g, const Plan& p,
                                               float* xp, float* row) {
  const int64_t plane = p.Hp * p.Wp;
  std::fill(xp, xp + g.C * plane, 0.f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(xp + c * plane + (h + g.PH) * p.Wp + g.PW, x + (c * g.H + h) * g.W,
                  static_cast<size_t>(g.W) * sizeof(float));
  const int64_t wblock = g.C * g.KH * g.KW * kOB;
  for (int64_t ob = 0; ob < p.blocks; ++ob) {
    const int64_t nr = std::min(kOB, g.O - ob * kOB);
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* xrow = xp + oh * p.Wp;
      int64_t ow = 0;
      const float* wb = wpk + ob * wblock;
      const bool k3 = g.KH == 3 && g.KW == 3;
      for (; ow + 16 <= p.OWp; ow += 16)
        (k3 ? micro<2, 3> : micro<2, 0>)(xrow + ow, plane, p.Wp, wb, g, row + ow, p.OWp);
      for (; ow < p.OWp; ow += 8)
        (k3 ? micro<1, 3> : micro<1, 0>)(xrow + ow, plane, p.Wp, wb, g, row + ow, p.OWp);
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t o = ob * kOB + r;
        float* yr = y + (o * g.OH + oh) * g.OW;
        const float* src = row + r * p.OWp;
        const float bias = b ? b[o] : 0.f;
        for (int64_t i = 0; i < g.OW; ++i) yr[i] = src[i] + bias;
      }
    }
  }
}

// Sum of the 8 lanes.
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// dw[r][k] += sum_{oh, ow} dy[r][oh][ow] x[oh][ow + k DW] for r < nr (4 output channels) and
// k < NK (up to 3 filter columns): dy points at the block's zero-padded rows [4][OH][OWp], x at
// xp[c][kh DH][kw0 DW]. 12 accumulators; per 8 outputs 4 + NK loads and 4 NK FMAs.
template <int NK>
__attribute__((target("avx2,fma"))) void micro_dw(const float* dy, int64_t dy_plane, const float* x,
                                                  int64_t Wp, int64_t DW, int64_t OH, int64_t OWp,
                                                  float* dw, int64_t dw_o_stride, int64_t nr) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
  __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* d = dy + oh * OWp;
    const float* xr = x + oh * Wp;
    for (int64_t ow = 0; ow < OWp; ow += 8) {
      const __m256 d0 = _mm256_loadu_ps(d + ow), d1 = _mm256_loadu_ps(d + dy_plane + ow),
                   d2 = _mm256_loadu_ps(d + 2 * dy_plane + ow),
                   d3 = _mm256_loadu_ps(d + 3 * dy_plane + ow);
      const __m256 x0 = _mm256_loadu_ps(xr + ow);
      a00 = _mm256_fmadd_ps(d0, x0, a00);
      a10 = _mm256_fmadd_ps(d1, x0, a10);
      a20 = _mm256_fmadd_ps(d2, x0, a20);
      a30 = _mm256_fmadd_ps(d3, x0, a30);
      if constexpr (NK >= 2) {
        const __m256 x1 = _mm256_loadu_ps(xr + ow + DW);
        a01 = _mm256_fmadd_ps(d0, x1, a01);
        a11 = _mm256_fmadd_ps(d1, x1, a11);
        a21 = _mm256_fmadd_ps(d2, x1, a21);
        a31 = _mm256_fmadd_ps(d3, x1, a31);
      }
      if constexpr (NK >= 3) {
        const __m256 x2 = _mm256_loadu_ps(xr + ow + 2 * DW);
        a02 = _mm256_fmadd_ps(d0, x2, a02);
        a12 = _mm256_fmadd_ps(d1, x2, a12);
        a22 = _mm256_fmadd_ps(d2, x2, a22);
        a32 = _mm256_fmadd_ps(d3, x2, a32);
      }
    }
  }
  const __m256 all[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
  for (int64_t r = 0; r < nr; ++r)
    for (int k = 0; k < NK; ++k) dw[r * dw_o_stride + k] += hsum(all[r][k]);
}

// One image's contribution to dw [O][C][KH][KW] (and db [O]); xp and dyp are per-thread scratch.
__attribute__((target("avx2,fma"))) void image_dw(const float* x, const float* dy, float* dw,
                                                  float* db, const ConvGeometry& g, const Plan& p,
                                                  float* xp, float* dyp) {
  const int64_t plane = p.Hp * p.Wp, dy_plane = g.OH * p.OWp;
  std::fill(xp, xp + g.C * plane, 0.f);
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(xp + c * plane + (h + g.PH) * p.Wp + g.PW, x + (c * g.H + h) * g.W,
                  static_cast<size_t>(g.W) * sizeof(float));
  std::fill(dyp, dyp + p.blocks * kOB * dy_plane, 0.f);
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* src = dy + (o * g.OH + oh) * g.OW;
      std::memcpy(dyp + o * dy_plane + oh * p.OWp, src, static_cast<size_t>(g.OW) * sizeof(float));
      if (db) {
        float s = 0.f;
        for (int64_t i = 0; i < g.OW; ++i) s += src[i];
        db[o] += s;
      }
    }
  const int64_t taps = g.C * g.KH * g.KW;
  for (int64_t ob = 0; ob < p.blocks; ++ob) {
    const int64_t nr = std::min(kOB, g.O - ob * kOB);
    const float* dyb = dyp + ob * kOB * dy_plane;
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; kw += 3) {
          const float* xs = xp + c * plane + kh * g.DH * p.Wp + kw * g.DW;
          float* out = dw + ((ob * kOB) * g.C + c) * g.KH * g.KW + kh * g.KW + kw;
          const int64_t nk = std::min<int64_t>(3, g.KW - kw);
          if (nk == 3)
            micro_dw<3>(dyb, dy_plane, xs, p.Wp, g.DW, g.OH, p.OWp, out, taps, nr);
          else if (nk == 2)
            micro_dw<2>(dyb, dy_plane, xs, p.Wp, g.DW, g.OH, p.OWp, out, taps, nr);
          else
            micro_dw<1>(dyb, dy_plane, xs, p.Wp, g.DW, g.OH, p.OWp, out, taps, nr);
        }
  }
}

float* scratch(size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

}  // namespace

bool available() {
  static const bool ok = [] {
    const char* env = std::getenv("MINIDL_CONV_AVX2");
    if (env && std::string(env) == "0") return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

bool suits(const ConvGeometry& g) {
  return g.SH == 1 && g.SW == 1 && g.OW >= 12 && g.C * g.KH * g.KW >= 32;
}

void forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g) {
  const Plan p = plan_for(g);
  // w [O, C, KH, KW] -> [O/4][C][KH][KW][4], zeros past O
  const int64_t taps = g.C * g.KH * g.KW;
  std::vector<float> wpk(static_cast<size_t>(p.blocks * taps * kOB), 0.f);
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t t = 0; t < taps; ++t)
      wpk[((o / kOB) * taps + t) * kOB + o % kOB] = w[o * taps + t];
  const int64_t in_size = g.C * g.H * g.W, out_size = g.O * g.OH * g.OW;
  const size_t need = static_cast<size_t>(g.C * p.Hp * p.Wp + kOB * p.OWp + 8);
  parallel_for(g.N, 1, [&](int64_t n0, int64_t n1) {
    float* xp = scratch(need);
    float* row = xp + g.C * p.Hp * p.Wp;
    for (int64_t n = n0; n < n1; ++n)
      image(x + n * in_size, wpk.data(), b, y + n * out_size, g, p, xp, row);
  });
}

bool suits_filter(const ConvGeometry& g) {
  return g.SH == 1 && g.SW == 1 && g.OW >= 12;
}

void backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvGeometry& g,
                     int64_t chunks_wanted) {
  const Plan p = plan_for(g);
  const int64_t taps = g.C * g.KH * g.KW;
  const int64_t grain = (g.N + chunks_wanted - 1) / chunks_wanted;
  const int64_t chunks = parallel_chunks(g.N, grain);
  // (uninitialised: each chunk zeroes its own, in parallel)
  std::unique_ptr<float[]> part_w(new float[static_cast<size_t>(chunks * g.O * taps)]);
  std::unique_ptr<float[]> part_b(db ? new float[static_cast<size_t>(chunks * g.O)] : nullptr);
  const int64_t in_size = g.C * g.H * g.W, out_size = g.O * g.OH * g.OW;
  const size_t need = static_cast<size_t>(g.C * p.Hp * p.Wp + p.blocks * kOB * g.OH * p.OWp + 8);
  parallel_for(g.N, grain, [&](int64_t n0, int64_t n1) {
    float* xp = scratch(need);
    float* dyp = xp + g.C * p.Hp * p.Wp;
    const int64_t chunk = n0 / grain;
    std::fill(part_w.get() + chunk * g.O * taps, part_w.get() + (chunk + 1) * g.O * taps, 0.f);
    if (db) std::fill(part_b.get() + chunk * g.O, part_b.get() + (chunk + 1) * g.O, 0.f);
    for (int64_t n = n0; n < n1; ++n)
      image_dw(x + n * in_size, dy + n * out_size, part_w.get() + chunk * g.O * taps,
               db ? part_b.get() + chunk * g.O : nullptr, g, p, xp, dyp);
  });
  add_partials(part_w.get(), chunks, g.O * taps, dw);
  if (db) add_partials(part_b.get(), chunks, g.O, db);
}

}  // namespace conv_avx2
}  // namespace cpu
}  // namespace minidl
