// 16-bit floating-point storage types and their conversions to and from f32.
// bf16: 1 sign, 8 exponent, 7 mantissa bits (the top half of an f32). f16: IEEE binary16.
// Both conversions from f32 round to nearest, ties to even, keep NaN a (quiet) NaN, and
// overflow to infinity. They are integer bit manipulation only, so the CPU and the GPU produce
// identical bits (DESIGN.md §2: mixed precision with f32 master weights).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/macros.h"

namespace minidl {

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

MINIDL_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

MINIDL_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

MINIDL_HD uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  uint32_t lsb = (u >> 16) & 1u;  // ties go to the even neighbour
  u += 0x7fffu + lsb;             // infinities stay infinite, overflow carries into infinity
  return static_cast<uint16_t>(u >> 16);
}

MINIDL_HD float bf16_bits_to_f32(uint16_t h) {
  return bits_to_float(static_cast<uint32_t>(h) << 16);
}

MINIDL_HD uint16_t f32_to_f16_bits(float f) {
  uint32_t x = float_to_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                                               // below 2^-14: subnormal
    if (x <= 0x33000000u) return static_cast<uint16_t>(sign);          // <= 2^-25 rounds to 0
    uint32_t e = x >> 23;
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;  // value = m * 2^(e-150); in units of 2^-24: m >> (126 - e)
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t r = x - 0x38000000u;  // re-bias the exponent from 127 to 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

MINIDL_HD float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1fu) return bits_to_float(sign | 0x7f800000u | (m << 13));  // inf, NaN
  if (e == 0) {
    if (m == 0) return bits_to_float(sign);
    e = 113;  // subnormal: normalise so the leading 1 reaches bit 10
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    return bits_to_float(sign | (e << 23) | ((m & 0x3ffu) << 13));
  }
  return bits_to_float(sign | ((e + 112u) << 23) | (m << 13));
}

MINIDL_HD float to_f32(bf16 v) {
  return bf16_bits_to_f32(v.bits);
}
MINIDL_HD float to_f32(f16 v) {
  return f16_bits_to_f32(v.bits);
}
MINIDL_HD bf16 to_bf16(float f) {
  return bf16{f32_to_bf16_bits(f)};
}
MINIDL_HD f16 to_f16(float f) {
  return f16{f32_to_f16_bits(f)};
}

}  // namespace minidl
