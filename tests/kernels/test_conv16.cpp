// The 16-bit convolution (x, w, y, dy, dx, dw in bf16 or f16; sums in f32; each result rounded
// once), on the CPU twin:
//  - its values are those of the f32 path on the widened operands, rounded once by
//    round_to_precision (kernels/precision.h, the f32-storage rounding Conv2d used before): NCHW
//    and channels-last, forward, dx, and dw added to what it held;
//  - every value lies within half a 16-bit unit of the f64 reference convolution over the same
//    operands (plus f32's own summation error), the outside value of "f32 accumulation, one
//    rounding";
//  - a bias, mixed dtypes and integer tensors are refused by name.
// The CUDA twin (cuDNN on tensor cores) is compared with this one in
// tests/cuda/test_conv16_twin.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/conv.h"
#include "kernels/precision.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

struct Case {
  Shape x;
  int64_t O, K, stride, pad;
};
const Case kCases[] = {
    {{2, 5, 9, 9}, 7, 3, 1, 1},    // 3x3, padded
    {{3, 8, 10, 10}, 6, 3, 2, 1},  // strided
    {{2, 6, 5, 5}, 9, 1, 1, 0},    // pointwise
    {{2, 1, 12, 12}, 4, 3, 1, 1},  // one input channel: NCHW and NHWC at once
};

ConvParams params(const Case& c) {
  ConvParams p;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  return p;
}

Shape out_shape(const Case& c) {
  const int64_t oh = conv_output_size(c.x[2], c.K, c.stride, c.pad, 1);
  const int64_t ow = conv_output_size(c.x[3], c.K, c.stride, c.pad, 1);
  return {c.x[0], c.O, oh, ow};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return ac.dtype() == bc.dtype() && ac.nbytes() == bc.nbytes() &&
         std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;
}

// x rounded to p in f32 storage (the independent rounding), in x's layout.
Tensor rounded(const Tensor& x, DType p) {
  return rounded_to(x, p);
}

TEST(Conv16, CpuTwinIsTheF32PathOnWidenedOperandsRoundedOnce) {
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true})
      for (const Case& c : kCases) {
        SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " NHWC " : " NCHW ")
                                          << shape_str(c.x) << " k" << c.K << " s" << c.stride);
        const MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        const ConvParams pr = params(c);
        const Shape ys = out_shape(c), ws{c.O, c.x[1], c.K, c.K};
        // Operands already on the 16-bit grid, in f32 storage and in 16-bit storage.
        Tensor x = rounded(random_tensor(c.x, 1).contiguous(f), p);
        Tensor w = rounded(random_tensor(ws, 2, -0.5f, 0.5f), p);
        Tensor dy = rounded(random_tensor(ys, 3).contiguous(f), p);
        Tensor dw0 = rounded(random_tensor(ws, 4, -0.1f, 0.1f), p);
        Tensor x16 = x.to(p), w16 = w.to(p), dy16 = dy.to(p);
        ASSERT_EQ(x16.memory_format(), x.memory_format());

        Tensor y16 = Tensor::empty(ys, p, Device::cpu(), f);
        conv2d_forward(x16, w16, Tensor(), y16, pr);
        Tensor y = Tensor::empty(ys, DType::f32, Device::cpu(), f);
        conv2d_forward(x, w, Tensor(), y, pr);
        round_to_precision(y, p, y);
        EXPECT_TRUE(same_bits(y16.to(DType::f32), y)) << "y";

        Tensor dx16 = Tensor::empty(c.x, p, Device::cpu(), f), dw16 = dw0.to(p);
        conv2d_backward(x16, w16, dy16, dx16, dw16, Tensor(), pr);
        Tensor dx = Tensor::empty(c.x, DType::f32, Device::cpu(), f), dw = dw0.clone();
        conv2d_backward(x, w, dy, dx, dw, Tensor(), pr);
        round_to_precision(dx, p, dx);
        round_to_precision(dw, p, dw);  // dw0 + the f32 sums, rounded once
        EXPECT_TRUE(same_bits(dx16.to(DType::f32), dx)) << "dx";
        EXPECT_TRUE(same_bits(dw16.to(DType::f32), dw)) << "dw";
        EXPECT_TRUE(dx16.is_contiguous(f)) << "dx left the layout";
      }
}

// Half a unit in the last place of a 16-bit float at v (8 significant bits for bf16, 11 for f16;
// f16's subnormals have a fixed unit of 2^-24).
double half_ulp(double v, DType p) {
  const int bits = p == DType::bf16 ? 8 : 11;
  int e = 0;
  std::frexp(std::fabs(v), &e);  // |v| in [2^(e-1), 2^e)
  double ulp = std::ldexp(1.0, e - bits);
  if (p == DType::f16) ulp = std::max(ulp, std::ldexp(1.0, -24));
  return ulp / 2;
}

TEST(Conv16, WithinHalfAUnitOfTheF64Convolution) {
  const Case c{{2, 16, 8, 8}, 8, 3, 1, 1};  // sums of 144 products
  const ConvParams pr = params(c);
  const Shape ys = out_shape(c), ws{c.O, c.x[1], c.K, c.K};
  for (DType p : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(p));
    Tensor x16 = random_tensor(c.x, 5).to(p), w16 = random_tensor(ws, 6, -0.3f, 0.3f).to(p);
    Tensor y16 = Tensor::empty(ys, p);
    conv2d_forward(x16, w16, Tensor(), y16, pr);
    Tensor y64 = Tensor::empty(ys, DType::f64);  // the reference path, in f64
    conv2d_forward(x16.to(DType::f64), w16.to(DType::f64), Tensor(), y64, pr);
    Tensor got = y16.to(DType::f64);
    // f32's summation error over 144 products of |x| <= 1, |w| <= 0.3: below 144 * 0.3 * 2^-23.
    const double f32_error = 144 * 0.3 * std::ldexp(1.0, -23);
    int64_t worse = 0, rounded_away = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double g = got.data<double>()[i], r = y64.data<double>()[i];
      if (std::fabs(g - r) > half_ulp(r, p) + f32_error) ++worse;
      if (g != r) ++rounded_away;
    }
    EXPECT_EQ(worse, 0) << "values further than half a unit from the f64 result";
    EXPECT_GT(rounded_away, got.numel() / 2) << "the results must be rounded to 16 bits";
  }
}

TEST(Conv16, RefusesABiasMixedDtypesAndIntegers) {
  const ConvParams p;
  Tensor x = Tensor::zeros({1, 2, 4, 4}, DType::bf16), w = Tensor::zeros({3, 2, 3, 3}, DType::bf16);
  Tensor y = Tensor::empty({1, 3, 2, 2}, DType::bf16);
  EXPECT_MINIDL_ERROR(conv2d_forward(x, w, Tensor::zeros({3}, DType::bf16), y, p), "conv2d_forward",
                      "b is given", "bf16 convolution takes no bias");
  EXPECT_MINIDL_ERROR(
      conv2d_backward(x, w, y, Tensor(), Tensor(), Tensor::zeros({3}, DType::bf16), p),
      "conv2d_backward", "db is given");
  EXPECT_MINIDL_ERROR(conv2d_forward(x, Tensor::zeros({3, 2, 3, 3}, DType::f16), Tensor(), y, p),
                      "conv2d_forward", "w", "f16");
  EXPECT_MINIDL_ERROR(conv2d_forward(x, w, Tensor(), Tensor::empty({1, 3, 2, 2}), p),
                      "conv2d_forward", "y", "f32");
  EXPECT_MINIDL_ERROR(conv2d_forward(Tensor::zeros({1, 2, 4, 4}, DType::i32), w, Tensor(), y, p),
                      "conv2d_forward", "x", "i32", "expected f32, f64, bf16 or f16");
}

}  // namespace
}  // namespace minidl
