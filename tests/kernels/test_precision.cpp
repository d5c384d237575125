// round_to_precision's contract (the PyTorch comparison of its values is
// tests/reference/test_precision_reference.cpp): a bf16 result keeps only the top 16 bits, an f16
// result is exactly representable in f16, rounding twice changes nothing, in place equals out of
// place, 1 and 2 threads and both layouts agree, f32 is a copy; and the argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/parallel.h"
#include "kernels/precision.h"
#include "tests/testing.h"

namespace minidl {
namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(Precision, RoundedValuesAreTheFormatsAndRoundingIsIdempotent) {
  const int saved_threads = num_threads();
  // [3, 40, 33, 17] (over one parallel grain) with signed zeros, infinities and NaNs, scaled so
  // that f16's overflow and subnormal ranges are reached too.
  Tensor x = testing::tensor_with_specials({3, 40, 33, 17}, 1);
  for (int64_t i = 0; i < x.numel(); i += 3) x.data<float>()[i] *= (i % 2 ? 3e4f : 1e-6f);
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(p) << (cl ? " NHWC" : "") << " threads " << threads);
        set_num_threads(threads);
        MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        Tensor xf = x.contiguous(f);
        Tensor y = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f);
        round_to_precision(xf, p, y);
        Tensor yc = y.contiguous();
        for (int64_t i = 0; i < yc.numel(); ++i) {
          const float v = yc.data<float>()[i];
          if (p == DType::bf16) {
            ASSERT_EQ(bits_of(v) & 0xffffu, std::isnan(v) ? bits_of(v) & 0xffffu : 0u) << v;
            ASSERT_EQ(bits_of(v), bits_of(to_f32(to_bf16(v)))) << v;
          } else if (!std::isnan(v)) {
            ASSERT_EQ(bits_of(v), bits_of(to_f32(to_f16(v)))) << v;
          }
        }
        Tensor twice = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f);
        round_to_precision(y, p, twice);
        EXPECT_TRUE(same_bits(twice, y)) << "idempotent";
        Tensor in_place = xf.clone().contiguous(f);
        round_to_precision(in_place, p, in_place);
        EXPECT_TRUE(same_bits(in_place, y)) << "in place";
        if (cl) {
          Tensor nchw = Tensor::empty(x.shape(), DType::f32, Device::cpu());
          round_to_precision(x, p, nchw);
          EXPECT_TRUE(same_bits(nchw, y)) << "layouts";
        }
      }
  set_num_threads(saved_threads);
  Tensor copy = Tensor::empty(x.shape());
  round_to_precision(x, DType::f32, copy);
  EXPECT_TRUE(same_bits(copy, x)) << "f32 is a copy";
}

TEST(Precision, ArgumentErrors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_MINIDL_ERROR(round_to_precision(x.to(DType::f64), DType::bf16, x.to(DType::f64)),
                      "round_to_precision", "expected f32");
  EXPECT_MINIDL_ERROR(round_to_precision(x, DType::i32, x), "round_to_precision", "precision i32");
  EXPECT_MINIDL_ERROR(round_to_precision(x, DType::bf16, Tensor::zeros({3, 2})),
                      "round_to_precision");
  EXPECT_EQ(parse_precision("bf16"), DType::bf16);
  EXPECT_EQ(parse_precision("f16"), DType::f16);
  EXPECT_EQ(parse_precision("f32"), DType::f32);
  EXPECT_MINIDL_ERROR(parse_precision("fp8"), "precision 'fp8'", "bf16");
}

}  // namespace
}  // namespace minidl
