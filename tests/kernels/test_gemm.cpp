// GEMM against a naive double-precision triple loop over odd shapes, all transposes, batches.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/gemm.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

// C = alpha op(A) op(B) + beta C in double, batch by batch.
Tensor naive_gemm(bool ta, bool tb, float alpha, const Tensor& a, const Tensor& b, float beta,
                  const Tensor& c) {
  bool batched = a.dim() == 3;
  int64_t B = batched ? a.size(0) : 1;
  int64_t m = c.size(-2), n = c.size(-1), k = ta ? a.size(-2) : a.size(-1);
  std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>(),
                     vc = c.to_vector<float>();
  int64_t ar = a.size(-1), br = b.size(-1);
  for (int64_t bt = 0; bt < B; ++bt)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          double x =
              ta ? va[bt * a.size(-2) * ar + p * ar + i] : va[bt * a.size(-2) * ar + i * ar + p];
          double y =
              tb ? vb[bt * b.size(-2) * br + j * br + p] : vb[bt * b.size(-2) * br + p * br + j];
          acc += x * y;
        }
        float& out = vc[bt * m * n + i * n + j];
        out = static_cast<float>(alpha * acc + beta * out);
      }
  return Tensor::from_vector(vc, c.shape());
}

TEST(Gemm, OddShapesAllTransposes) {
  uint32_t seed = 1;
  for (auto [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {64, 31, 129}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, seed++);
        Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, seed++);
        Tensor c = random_tensor({m, n}, seed++);
        Tensor ref = naive_gemm(ta, tb, 0.75f, a, b, 0.5f, c);
        gemm(ta, tb, 0.75f, a, b, 0.5f, c);
        EXPECT_TRUE(testing::all_close(c, ref, 1e-5, 1e-5))
            << m << "x" << n << "x" << k << " " << ta << tb;
      }
  }
}

TEST(Gemm, StridedBatched) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_tensor(ta ? Shape{3, 9, 5} : Shape{3, 5, 9}, 40);
      Tensor b = random_tensor(tb ? Shape{3, 4, 9} : Shape{3, 9, 4}, 41);
      Tensor c = random_tensor({3, 5, 4}, 42);
      Tensor ref = naive_gemm(ta, tb, 1.f, a, b, 1.f, c);
      gemm(ta, tb, 1.f, a, b, 1.f, c);
      EXPECT_TRUE(testing::all_close(c, ref, 1e-5, 1e-5));
    }
}

TEST(Gemm, ZeroInnerDimensionScalesC) {
  Tensor a = Tensor::empty({2, 0}), b = Tensor::empty({0, 3});
  Tensor c = Tensor::full({2, 3}, 4.0);
  gemm(false, false, 1.f, a, b, 0.5f, c);
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(6, 2.f));
}

TEST(Gemm, MatmulAndErrors) {
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({3, 4}, 2);
  EXPECT_EQ(matmul(a, b).shape(), (Shape{2, 4}));
  EXPECT_MINIDL_ERROR(matmul(a, a), "gemm", "do not multiply", "[2, 3]");
  EXPECT_MINIDL_ERROR(gemm(false, false, 1, a, b, 0, Tensor::empty({2, 4}, DType::bf16)), "gemm",
                      "bf16");
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

TEST(Gemm, DoublePrecision) {
  Tensor a = testing::random_tensor({7, 9}, 50).to(DType::f64);
  Tensor b = testing::random_tensor({9, 4}, 51).to(DType::f64);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::f64);
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      double ref = 0;
      for (int64_t p = 0; p < 9; ++p) ref += a.at<double>({i, p}) * b.at<double>({p, j});
      EXPECT_NEAR(c.at<double>({i, j}), ref, 1e-14);
    }
  EXPECT_MINIDL_ERROR(matmul(a, b.to(DType::f32)), "gemm", "B", "f32", "expected f64");
}

// OpenBLAS and cuBLAS take 32-bit sizes: a size past INT32_MAX is refused by name (issue 13: it
// was narrowed silently, so m = 2^32 + 2 multiplied a 2-row matrix and reported nothing).
// bf16 / f16 A and B with an f32 C: every transpose, batched, with alpha and beta; the values of
// the f32 GEMM over the widened operands, bit for bit, and within f32's summation error of the
// double-precision product (the outside value of "16-bit operands, f32 accumulation").
TEST(Gemm, SixteenBitOperandsSumInF32IntoAnF32C) {
  for (DType p : {DType::bf16, DType::f16})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(p) << " ta " << ta << " tb " << tb);
        Tensor a = random_tensor(ta ? Shape{2, 33, 17} : Shape{2, 17, 33}, 7).to(p);
        Tensor b = random_tensor(tb ? Shape{2, 65, 33} : Shape{2, 33, 65}, 8).to(p);
        Tensor c0 = random_tensor({2, 17, 65}, 9);
        Tensor c = c0.clone(), c32 = c0.clone();
        gemm(ta, tb, 0.5, a, b, 2.0, c);
        gemm(ta, tb, 0.5, a.to(DType::f32), b.to(DType::f32), 2.0, c32);
        EXPECT_EQ(c.to_vector<float>(), c32.to_vector<float>());
        Tensor ref = naive_gemm(ta, tb, 0.5f, a.to(DType::f32), b.to(DType::f32), 2.f, c0);
        EXPECT_TRUE(testing::all_close(c, ref, 1e-5, 1e-5));
      }
  Tensor a = random_tensor({4, 3}, 1).to(DType::bf16), b = random_tensor({3, 5}, 2).to(DType::bf16);
  EXPECT_ERROR_MESSAGE(gemm(false, false, 1.0, a, b, 0.0, Tensor::empty({4, 5}, DType::bf16)),
                       Error, "gemm", "C", "f32");
  EXPECT_ERROR_MESSAGE(gemm(false, false, 1.0, a, b.to(DType::f16), 0.0, Tensor::empty({4, 5})),
                       Error, "gemm", "B");
}

TEST(Gemm, SizesOverAnIntAreRefusedNotWrapped) {
  std::vector<float> a(4, 1.f), b(4, 1.f), c(4, 0.f);
  GemmArgs g;
  g.m = g.n = g.k = g.lda = g.ldb = g.ldc = 2;
  gemm(Device::cpu(), g, a.data(), b.data(), c.data());
  EXPECT_EQ(c, std::vector<float>(4, 2.f));
  const int64_t wraps_to_2 = (int64_t{1} << 32) + 2;
  for (int64_t GemmArgs::*field : {&GemmArgs::m, &GemmArgs::n, &GemmArgs::k, &GemmArgs::lda,
                                   &GemmArgs::ldb, &GemmArgs::ldc, &GemmArgs::batch}) {
    GemmArgs big = g;
    big.*field = wraps_to_2;
    std::fill(c.begin(), c.end(), 0.f);
    EXPECT_MINIDL_ERROR(gemm(Device::cpu(), big, a.data(), b.data(), c.data()),
                        "gemm: ", "4294967298", "32-bit int");
    EXPECT_EQ(c, std::vector<float>(4, 0.f)) << "nothing computed";
  }
}

}  // namespace
}  // namespace minidl
