// bf16 / f16 rounding against hand-derived bit patterns: ties to even, subnormals, overflow, inf,
// NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/dtype.h"
#include "core/tensor.h"

namespace minidl {
namespace {

float from_bits(uint32_t u) {
  return bits_to_float(u);
}

TEST(BF16, ExactValuesRoundTrip) {
  for (float v : {0.f, -0.f, 1.f, -2.f, 0.5f, 3.0f, 1024.f, 1.5f})
    EXPECT_EQ(bf16_bits_to_f32(f32_to_bf16_bits(v)), v);
  EXPECT_EQ(f32_to_bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16_bits(-2.0f), 0xc000);
}

TEST(BF16, RoundsToNearestTiesToEven) {
  // 1 + 2^-8 lies exactly between bf16 1.0 (0x3f80) and 1 + 2^-7 (0x3f81): even is 0x3f80.
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x3f808000)), 0x3f80);
  // 1 + 3*2^-8 lies between 0x3f81 and 0x3f82: even is 0x3f82.
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x3f818000)), 0x3f82);
  // Just above the tie rounds up; just below rounds down.
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x3f808001)), 0x3f81);
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x3f807fff)), 0x3f80);
}

TEST(BF16, SpecialValues) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_bf16_bits(inf), 0x7f80);
  EXPECT_EQ(f32_to_bf16_bits(-inf), 0xff80);
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(std::nanf("")))));
  // A NaN whose payload sits only in the low bits must not become infinity.
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(from_bits(0x7f800001)))));
  // The largest finite f32 rounds up to infinity in bf16 (its top 16 bits are all-ones mantissa).
  EXPECT_EQ(f32_to_bf16_bits(std::numeric_limits<float>::max()), 0x7f80);
  // f32 subnormals keep their top bits: 2^-133 = 0x00040000 -> 0x0004.
  EXPECT_EQ(f32_to_bf16_bits(from_bits(0x00040000)), 0x0004);
}

TEST(F16, ExactValuesAndKnownBits) {
  EXPECT_EQ(f32_to_f16_bits(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16_bits(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16_bits(65504.f), 0x7bff);  // largest finite half
  EXPECT_EQ(f32_to_f16_bits(0.f), 0x0000);
  EXPECT_EQ(f32_to_f16_bits(-0.f), 0x8000);
  EXPECT_EQ(f16_bits_to_f32(0x3555), 0.333251953125f);
  for (uint32_t h = 0; h < 0x7c00; ++h)  // every finite non-negative half survives the round trip
    ASSERT_EQ(f32_to_f16_bits(f16_bits_to_f32(static_cast<uint16_t>(h))), h) << h;
}

TEST(F16, RoundsToNearestTiesToEven) {
  // 1 + 2^-11 lies between 1.0 (0x3c00) and 1 + 2^-10 (0x3c01): even is 0x3c00.
  EXPECT_EQ(f32_to_f16_bits(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3*2^-11: between 0x3c01 and 0x3c02: even is 0x3c02.
  EXPECT_EQ(f32_to_f16_bits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16_bits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
}

TEST(F16, OverflowAndSpecials) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16_bits(65519.f), 0x7bff);  // below the halfway point 65520
  EXPECT_EQ(f32_to_f16_bits(65520.f), 0x7c00);  // the tie rounds to even: infinity
  EXPECT_EQ(f32_to_f16_bits(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_f16_bits(-inf), 0xfc00);
  EXPECT_TRUE(std::isnan(f16_bits_to_f32(f32_to_f16_bits(std::nanf("")))));
  EXPECT_TRUE(std::isinf(f16_bits_to_f32(0x7c00)));
}

TEST(F16, Subnormals) {
  float tiny = std::ldexp(1.0f, -24);  // smallest half subnormal
  EXPECT_EQ(f32_to_f16_bits(tiny), 0x0001);
  EXPECT_EQ(f16_bits_to_f32(0x0001), tiny);
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -25)), 0x0000);      // exact tie -> even (0)
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.5f, -25)), 0x0001);      // above the tie
  EXPECT_EQ(f32_to_f16_bits(3 * std::ldexp(1.0f, -25)), 0x0002);  // 1.5 units: tie -> 2
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1023.5f, -24)), 0x0400);   // rounds up into normals
  EXPECT_EQ(f16_bits_to_f32(0x03ff), std::ldexp(1023.0f, -24));   // largest subnormal
}

TEST(Cast, TensorConversionsMatchElementFunctions) {
  Tensor x = Tensor::from_vector<float>({1.0f, 0.1f, -3.75f, 65520.f, 1e-8f}, {5});
  std::vector<float> via_bf16 = x.to(DType::bf16).to_vector<float>();
  std::vector<float> via_f16 = x.to(DType::f16).to_vector<float>();
  std::vector<float> src = x.to_vector<float>();
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(via_bf16[i], bf16_bits_to_f32(f32_to_bf16_bits(src[i])));
    EXPECT_EQ(via_f16[i], f16_bits_to_f32(f32_to_f16_bits(src[i])));
  }
  std::vector<int32_t> ints =
      Tensor::from_vector<float>({2.7f, -2.7f}, {2}).to(DType::i32).to_vector<int32_t>();
  EXPECT_EQ(ints, (std::vector<int32_t>{2, -2}));
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::i64), 8u);
  EXPECT_EQ(parse_dtype("u8"), DType::u8);
  EXPECT_EQ(parse_dtype("f64"), DType::f64);
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  EXPECT_THROW(parse_dtype("f128"), Error);
}

}  // namespace
}  // namespace minidl
