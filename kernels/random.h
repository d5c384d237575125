// Random fills from Philox4x32-10 (core/philox.h): uniform, normal, bernoulli. Element i of a fill
// with (seed, offset) is a pure function of (seed, offset, i), so the CPU and CUDA twins write the
// same bits. The math below uses only operations that round identically on both (IEEE + - * / sqrt
// and explicit fma, never the libraries' log/cos, never contraction), which is why it has its own
// log and cos.
#pragma once

#include <cmath>

#include "core/dispatch.h"
#include "core/philox.h"

namespace minidl {

// ---- deterministic float arithmetic ----

MINIDL_HD float det_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);  // never fused into an fma by nvcc
#else
  return a * b;  // the host is compiled with -ffp-contract=off
#endif
}
MINIDL_HD float det_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
MINIDL_HD float det_fma(float a, float b, float c) {
  return fmaf(a, b, c);
}  // IEEE on both

// Natural log for x in (0, 1] (what Box-Muller needs), within ~2 ulp: x = m * 2^e with m in
// [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s) with s = (m - 1) / (m + 1), an odd series in s.
MINIDL_HD float det_log_unit(float x) {
  uint32_t bits = float_to_bits(x);
  int e = static_cast<int>((bits >> 23) & 0xff) - 127;
  float m = bits_to_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  if (m > 1.41421356f) {
    m = det_mul(m, 0.5f);
    e += 1;
  }
  float s = (m - 1.0f) / (m + 1.0f);
  float s2 = det_mul(s, s);
  float p = det_fma(s2, 1.0f / 11.0f, 1.0f / 9.0f);
  p = det_fma(p, s2, 1.0f / 7.0f);
  p = det_fma(p, s2, 1.0f / 5.0f);
  p = det_fma(p, s2, 1.0f / 3.0f);
  p = det_fma(p, s2, 1.0f);
  float log_m = det_mul(det_mul(2.0f, s), p);
  const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
  float fe = static_cast<float>(e);
  return det_add(det_fma(fe, ln2_hi, det_fma(fe, ln2_lo, 0.0f)), log_m);
}

// cos(2 pi u) for u in [0, 1): quarter-turn reduction, then Taylor series on [-pi/4, pi/4].
MINIDL_HD float det_cos_2pi(float u) {
  float t = det_mul(u, 4.0f);  // exact
  float q = floorf(det_add(t, 0.5f));
  float f = det_add(t, -q);  // [-0.5, 0.5], exact
  float x = det_mul(f, 1.57079632679f);
  float x2 = det_mul(x, x);
  float c = det_fma(x2, -1.0f / 3628800.0f, 1.0f / 40320.0f);
  c = det_fma(c, x2, -1.0f / 720.0f);
  c = det_fma(c, x2, 1.0f / 24.0f);
  c = det_fma(c, x2, -0.5f);
  c = det_fma(c, x2, 1.0f);
  float s = det_fma(x2, 1.0f / 362880.0f, -1.0f / 5040.0f);
  s = det_fma(s, x2, 1.0f / 120.0f);
  s = det_fma(s, x2, -1.0f / 6.0f);
  s = det_fma(det_mul(s, x2), x, x);
  switch (static_cast<int>(q) & 3) {  // cos(q pi/2 + x)
    case 0:
      return c;
    case 1:
      return -s;
    case 2:
      return -c;
    default:
      return s;
  }
}

// ---- the element functions ----

// Uniform [0, 1): counter offset + i/4, output word i%4. The word is picked by selects, not by
// r.v[i % 4]: an array index that varies per element keeps GCC from vectorising the loops that
// call this (dropout: AVX-512 runs 16 elements at once, ~15x faster) and can put r in local
// memory on a GPU; the value is the same.
MINIDL_HD float philox_uniform_at(uint64_t seed, uint64_t offset, int64_t i) {
  Philox4 r = philox_block(seed, offset + static_cast<uint64_t>(i) / 4);
  const int k = static_cast<int>(static_cast<uint64_t>(i) % 4);
  const uint32_t w = k == 0 ? r.v[0] : k == 1 ? r.v[1] : k == 2 ? r.v[2] : r.v[3];
  return uint_to_unit_float(w);
}

// Standard normal by Box-Muller: counter offset + i/2; words 2(i%2) and 2(i%2)+1.
MINIDL_HD float philox_normal_at(uint64_t seed, uint64_t offset, int64_t i) {
  Philox4 r = philox_block(seed, offset + static_cast<uint64_t>(i) / 2);
  int w = static_cast<int>(i % 2) * 2;
  float u1 = det_mul(static_cast<float>((r.v[w] >> 8) + 1u), 1.0f / 16777216.0f);  // (0, 1]
  float u2 = uint_to_unit_float(r.v[w + 1]);                                       // [0, 1)
  float radius = sqrtf(det_mul(-2.0f, det_log_unit(u1)));
  return det_mul(radius, det_cos_2pi(u2));
}

// Philox counters a fill of n elements consumes (what a Generator must reserve).
inline uint64_t uniform_counters(int64_t n) {
  return static_cast<uint64_t>((n + 3) / 4);
}
inline uint64_t normal_counters(int64_t n) {
  return static_cast<uint64_t>((n + 1) / 2);
}

enum class RandomKind { uniform, normal, bernoulli };

// uniform: lo + (hi - lo) u; normal: a + b z (a = mean, b = std); bernoulli: 1 if u < a else 0.
struct RandomSpec {
  RandomKind kind;
  float a, b;
  uint64_t seed, offset;
};

MINIDL_HD float random_element(const RandomSpec& r, int64_t i) {
  switch (r.kind) {
    case RandomKind::uniform:
      return det_add(r.a, det_mul(det_add(r.b, -r.a), philox_uniform_at(r.seed, r.offset, i)));
    case RandomKind::normal:
      return det_add(r.a, det_mul(r.b, philox_normal_at(r.seed, r.offset, i)));
    case RandomKind::bernoulli:
      return philox_uniform_at(r.seed, r.offset, i) < r.a ? 1.0f : 0.0f;
  }
  return 0.0f;
}

// ---- twins and ops ----

namespace cpu {
void random_fill(const Tensor& t, RandomSpec spec, Stream s);
}
namespace cuda {
void random_fill(const Tensor& t, RandomSpec spec, Stream s);
}

// t: contiguous f32 (bernoulli also u8). Each takes an explicit (seed, offset), or a Generator from
// which it reserves the counters it uses.
void uniform_(const Tensor& t, float lo, float hi, uint64_t seed, uint64_t offset);
void normal_(const Tensor& t, float mean, float std, uint64_t seed, uint64_t offset);
void bernoulli_(const Tensor& t, float p, uint64_t seed, uint64_t offset);
void uniform_(const Tensor& t, float lo, float hi, Generator& gen);
void normal_(const Tensor& t, float mean, float std, Generator& gen);
void bernoulli_(const Tensor& t, float p, Generator& gen);

}  // namespace minidl
