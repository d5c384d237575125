// bf16 and f16 activations through the ops between the convolutions (docs/precision.md): ReLU,
// add/sub/mul, the fused add + ReLU, batch norm (with and without its fused ReLU) and the option-A
// shortcut, on the CPU twin:
//  - element-wise ops are f32 math on the widened values, rounded once (PyTorch's bf16 add):
//    checked bit for bit against a scalar loop over core/half.h's conversions;
//  - batch norm's y and dx lie within half a 16-bit unit of the f64 batch norm of the same values
//    (plus f32's own error), and its statistics, running statistics, dgamma and dbeta (f32) are
//    those of the f32 path on the widened values, bit for bit; NCHW and channels-last;
//  - the shortcut copies bits;
//  - 16-bit parameters for a 16-bit batch norm, mixed dtypes, and the f32-only ops are refused by
//    name.
// The CUDA twins are compared with these in tests/cuda/test_activations16_twin.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "kernels/add_relu.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/subsample_pad_channels.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

bool same_bits(const Tensor& a, const Tensor& b) {
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return ac.dtype() == bc.dtype() && ac.nbytes() == bc.nbytes() &&
         std::memcmp(ac.data_ptr(), bc.data_ptr(), ac.nbytes()) == 0;
}

// One value of a 16-bit tensor as f32 (exact), and an f32 value rounded to p.
float value_at(const Tensor& t, int64_t i) {
  const uint16_t bits = static_cast<const uint16_t*>(t.data_ptr())[i];
  return t.dtype() == DType::bf16 ? bf16_bits_to_f32(bits) : f16_bits_to_f32(bits);
}
uint16_t rounded_bits(float v, DType p) {
  return p == DType::bf16 ? f32_to_bf16_bits(v) : f32_to_f16_bits(v);
}

// The 16-bit unit (spacing) at |v|: 8 significant bits for bf16, 11 for f16 (subnormal below
// 2^-14, where the spacing stays 2^-24).
double unit_at(double v, DType p) {
  const int bits = p == DType::bf16 ? 8 : 11;
  int e = 0;
  std::frexp(std::fabs(v), &e);  // |v| in [2^(e-1), 2^e)
  if (p == DType::f16) e = std::max(e, -13);
  return std::ldexp(1.0, e - bits);
}

// |a - ref| <= half a unit of ref + slack, element by element; a 16-bit, ref f64.
::testing::AssertionResult within_half_unit(const Tensor& a, const Tensor& ref, double slack) {
  Tensor ac = a.contiguous(), rc = ref.contiguous();
  const double* r = rc.data<double>();
  for (int64_t i = 0; i < ac.numel(); ++i) {
    const double got = value_at(ac, i), want = r[i];
    if (std::fabs(got - want) > 0.5 * unit_at(want, a.dtype()) + slack)
      return ::testing::AssertionFailure() << "element " << i << ": " << got << " vs " << want
                                           << " (unit " << unit_at(want, a.dtype()) << ")";
  }
  return ::testing::AssertionSuccess();
}

double max_abs(const Tensor& t) {
  Tensor c = t.to(DType::f64).contiguous();
  double m = 0;
  for (int64_t i = 0; i < c.numel(); ++i) m = std::max(m, std::fabs(c.data<double>()[i]));
  return m;
}

TEST(Activations16, ElementwiseOpsAreF32MathRoundedOnce) {
  using Fn = std::function<float(float, float)>;
  struct Op {
    const char* name;
    std::function<void(const Tensor&, const Tensor&, const Tensor&)> run;
    Fn f;
  };
  const Op ops[] = {
      {"add", [](auto& a, auto& b, auto& o) { add(a, b, o); },
       [](float a, float b) { return a + b; }},
      {"sub", [](auto& a, auto& b, auto& o) { sub(a, b, o); },
       [](float a, float b) { return a - b; }},
      {"mul", [](auto& a, auto& b, auto& o) { mul(a, b, o); },
       [](float a, float b) { return a * b; }},
      {"relu_forward", [](auto& a, auto&, auto& o) { relu_forward(a, o); },
       [](float a, float) { return a > 0 ? a : 0.f; }},
      {"relu_backward", [](auto& a, auto& b, auto& o) { relu_backward(a, b, o); },
       [](float y, float dy) { return y > 0 ? dy : 0.f; }},
      {"add_relu_forward", [](auto& a, auto& b, auto& o) { add_relu_forward(a, b, o); },
       [](float a, float b) { return a + b > 0 ? a + b : 0.f; }},
      {"add_relu_backward", [](auto& a, auto& b, auto& o) { add_relu_backward(a, b, o); },
       [](float y, float dy) { return y > 0 ? dy : 0.f; }},
  };
  for (DType p : {DType::bf16, DType::f16})
    for (const Op& op : ops) {
      SCOPED_TRACE(::testing::Message() << dtype_name(p) << " " << op.name);
      // Specials (zeros of both signs, infinities, NaN) and sums that cancel exactly.
      Tensor a32 = testing::tensor_with_specials({3, 7, 11, 13}, 1);
      Tensor a = a32.to(p), b = testing::tensor_with_specials({3, 7, 11, 13}, 2, &a32).to(p);
      Tensor out = Tensor::empty(a.shape(), p);
      op.run(a, b, out);
      int64_t wrong = 0;
      for (int64_t i = 0; i < a.numel(); ++i) {
        const uint16_t want = rounded_bits(op.f(value_at(a, i), value_at(b, i)), p);
        const uint16_t got = static_cast<const uint16_t*>(out.data_ptr())[i];
        const bool both_nan =
            std::isnan(value_at(out, i)) && std::isnan(op.f(value_at(a, i), value_at(b, i)));
        wrong += got != want && !both_nan;
      }
      EXPECT_EQ(wrong, 0);
      op.run(a, b, a);  // in place: each element is read before it is written
      EXPECT_TRUE(same_bits(a, out));
    }
}

struct BnRun {
  Tensor y, mean, invstd, running_mean, running_var, dx, dgamma, dbeta;
};

// Batch norm forward (training) and backward of x with dy; gamma/beta and the statistics in x's
// math dtype. `relu`: the fused ReLU.
BnRun batchnorm(const Tensor& x, const Tensor& dy, bool relu) {
  const int64_t C = x.size(1);
  const DType m = math_dtype(x.dtype());
  Tensor gamma = random_tensor({C}, 11, 0.5f, 1.5f).to(m), beta = random_tensor({C}, 12).to(m);
  BnRun r;
  r.y = empty_like_layout(x.shape(), x);
  r.mean = Tensor::empty({C}, m);
  r.invstd = Tensor::empty({C}, m);
  r.running_mean = random_tensor({C}, 13).to(m);
  r.running_var = random_tensor({C}, 14, 0.5f, 2.f).to(m);
  batchnorm_forward_train(x, gamma, beta, r.y, r.mean, r.invstd, r.running_mean, r.running_var, 0.1,
                          1e-5, relu);
  r.dx = empty_like_layout(x.shape(), x);
  r.dgamma = random_tensor({C}, 15).to(m);
  r.dbeta = random_tensor({C}, 16).to(m);
  batchnorm_backward_train(x, dy, gamma, r.mean, r.invstd, r.dx, r.dgamma, r.dbeta,
                           relu ? r.y : Tensor());
  return r;
}

TEST(Activations16, BatchNormIsWithinHalfAUnitOfF64AndKeepsF32Statistics) {
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true})
      for (bool relu : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(p) << (cl ? " NHWC" : " NCHW") << (relu ? " relu" : ""));
        const MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        // Values on the 16-bit grid with a per-layout offset, as a convolution's output.
        Tensor x16 = random_tensor({6, 5, 7, 9}, 1, -2.f, 3.f).contiguous(f).to(p);
        Tensor dy16 = random_tensor({6, 5, 7, 9}, 2).contiguous(f).to(p);
        ASSERT_EQ(x16.memory_format(), f);
        BnRun h = batchnorm(x16, dy16, relu);
        BnRun s = batchnorm(x16.to(DType::f32), dy16.to(DType::f32), relu);
        BnRun d = batchnorm(x16.to(DType::f64), dy16.to(DType::f64), relu);
        EXPECT_EQ(h.y.dtype(), p);
        EXPECT_EQ(h.y.memory_format(), f);
        EXPECT_TRUE(within_half_unit(h.y, d.y, 1e-5 * max_abs(d.y))) << "y";
        EXPECT_TRUE(within_half_unit(h.dx, d.dx, 1e-5 * max_abs(d.dx))) << "dx";
        for (auto [a, b, what] : {std::tuple{&h.mean, &s.mean, "mean"},
                                  {&h.invstd, &s.invstd, "invstd"},
                                  {&h.running_mean, &s.running_mean, "running_mean"},
                                  {&h.running_var, &s.running_var, "running_var"},
                                  {&h.dgamma, &s.dgamma, "dgamma"},
                                  {&h.dbeta, &s.dbeta, "dbeta"}})
          EXPECT_TRUE(same_bits(*a, *b)) << what;
        // Eval mode, from the running statistics.
        Tensor ye = empty_like_layout(x16.shape(), x16), ye64 = empty_like_layout(x16.shape(), d.y);
        batchnorm_forward_eval(x16, Tensor(), Tensor(), s.running_mean, s.running_var, ye, 1e-5,
                               relu);
        batchnorm_forward_eval(x16.to(DType::f64), Tensor(), Tensor(),
                               s.running_mean.to(DType::f64), s.running_var.to(DType::f64), ye64,
                               1e-5, relu);
        EXPECT_TRUE(within_half_unit(ye, ye64, 1e-5 * max_abs(ye64))) << "eval";
      }
}

TEST(Activations16, OptionAShortcutCopiesTheBits) {
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " NHWC" : " NCHW"));
      const MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
      Tensor x = testing::tensor_with_specials({2, 4, 7, 6}, 1).contiguous(f).to(p);
      Tensor y = Tensor::empty({2, 8, 4, 3}, p, Device::cpu(), f);
      Tensor y32 = Tensor::empty({2, 8, 4, 3}, DType::f32, Device::cpu(), f);
      subsample_pad_channels_forward(x, y, 2, 2);
      subsample_pad_channels_forward(x.to(DType::f32), y32, 2, 2);
      EXPECT_TRUE(same_bits(y, y32.to(p))) << "forward";
      Tensor dx = empty_like_layout(x.shape(), x),
             dx32 = empty_like_layout(x.shape(), x, DType::f32);
      subsample_pad_channels_backward(y, dx, 2, 2);
      subsample_pad_channels_backward(y32, dx32, 2, 2);
      EXPECT_TRUE(same_bits(dx, dx32.to(p))) << "backward";
    }
}

TEST(Activations16, RefusesSixteenBitParametersMixedDtypesAndF32OnlyOps) {
  Tensor x = random_tensor({4, 3, 5, 5}, 1).to(DType::bf16);
  Tensor y = Tensor::empty(x.shape(), DType::bf16);
  Tensor g16 = Tensor::full({3}, 1.0, DType::bf16), mean = Tensor::empty({3}),
         invstd = Tensor::empty({3});
  EXPECT_ERROR_MESSAGE(
      batchnorm_forward_train(x, g16, Tensor(), y, mean, invstd, Tensor(), Tensor(), 0.1, 1e-5),
      Error, "batchnorm_forward_train", "gamma", "f32");
  EXPECT_ERROR_MESSAGE(batchnorm_forward_train(x, Tensor(), Tensor(), Tensor::empty(x.shape()),
                                               mean, invstd, Tensor(), Tensor(), 0.1, 1e-5),
                       Error, "batchnorm_forward_train", "y");
  EXPECT_ERROR_MESSAGE(add(x, x.to(DType::f16), y), Error, "add", "b");
  EXPECT_ERROR_MESSAGE(axpy(1.0, x, y), Error, "axpy", "bf16");
  EXPECT_ERROR_MESSAGE(relu_forward(x.to(DType::i32), Tensor::empty(x.shape(), DType::i32)), Error,
                       "relu_forward", "i32");
}

}  // namespace
}  // namespace minidl
