// SoftmaxCrossEntropy: the mean loss against PyTorch's F.cross_entropy (with and without label
// smoothing), finite-difference gradients in double, huge logits without NaN, top-k counts.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "layers/loss.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::random_double;

Tensor labels_of(std::vector<int64_t> v) {
  int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector(v, {n});
}

TEST(SoftmaxCrossEntropy, MatchesPyTorch) {
  // torch: F.cross_entropy(z, y) and F.cross_entropy(z, y, label_smoothing=0.1), float64
  Tensor z = Tensor::from_vector<double>({1, 2, 3, 0, 0, 5, -1, 4, 4}, {3, 3});
  Tensor y = labels_of({2, 0, 1});
  SoftmaxCrossEntropy plain, smooth(0.1);
  EXPECT_NEAR(plain.forward(z, y).item<double>(), 2.039167452649303, 1e-12);
  EXPECT_NEAR(smooth.forward(z, y).item<double>(), 2.072500785982636, 1e-12);
  EXPECT_NEAR(plain.forward(z.to(DType::f32), y).item<double>(), 2.039167452649303, 1e-6);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  for (double eps : {0.0, 0.2}) {
    SoftmaxCrossEntropy loss(eps);
    Tensor z = random_double({4, 6}, 1, -3, 3);
    Tensor y = labels_of({5, 0, 2, 2});
    loss.forward(z, y);
    std::vector<double> g = loss.backward(2.0).to_vector<double>();  // d(2 * mean loss)
    double* p = z.data<double>();
    for (int64_t i = 0; i < z.numel(); ++i) {
      const double saved = p[i], h = 1e-6;
      p[i] = saved + h;
      double up = loss.forward(z, y).item<double>();
      p[i] = saved - h;
      double down = loss.forward(z, y).item<double>();
      p[i] = saved;
      EXPECT_NEAR(g[i], 2.0 * (up - down) / (2 * h), 1e-7) << eps << " " << i;
    }
  }
}

TEST(SoftmaxCrossEntropy, LargeLogitsStayFinite) {
  Tensor z = Tensor::from_vector<float>({1e4f, -1e4f, 3e4f, 0.f, 88.f, 89.f}, {2, 3});
  SoftmaxCrossEntropy loss;
  double l = loss.forward(z, labels_of({0, 1})).item<double>();
  EXPECT_TRUE(std::isfinite(l));
  EXPECT_NEAR(l, (2e4 + 1.0 + std::log1p(std::exp(-1.0) + std::exp(-89.0))) / 2, 1e-3);
  for (float v : loss.backward().to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
}

TEST(SoftmaxCrossEntropy, TopKCountsWithTies) {
  // label ranks: row 0 -> 0, row 1 -> 2, row 2 -> 1 (tie with a lower index counts ahead),
  // row 3 -> 5
  Tensor z = Tensor::from_vector<float>({5, 1, 2, 0, 0, 0,   //
                                         1, 9, 8, 2, 0, 0,   //
                                         3, 3, 1, 0, 0, 0,   //
                                         6, 5, 4, 3, 2, 1},  //
                                        {4, 6});
  SoftmaxCrossEntropy loss;
  loss.forward(z, labels_of({0, 3, 1, 5}));
  EXPECT_EQ(loss.ranks().to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 1, 5}));
  EXPECT_EQ(loss.top1(), 1);
  EXPECT_EQ(loss.correct(2), 2);
  EXPECT_EQ(loss.correct(3), 3);
  EXPECT_EQ(loss.top5(), 3);
  EXPECT_EQ(loss.correct(6), 4);
}

TEST(SoftmaxCrossEntropy, ANonFiniteLogitIsNeverCorrect) {
  // all-NaN weights give all-NaN logits: scored "top-1 100%" before, as NaN compares false
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  Tensor z = Tensor::from_vector<float>({nan, nan, nan,  //
                                         nan, 0, 1,      //
                                         inf, 0, 1,      //
                                         2, 0, 1},       //
                                        {4, 3});
  SoftmaxCrossEntropy loss;
  EXPECT_TRUE(std::isnan(loss.forward(z, labels_of({0, 1, 0, 0})).item<double>()));
  EXPECT_EQ(loss.ranks().to_vector<int64_t>(), (std::vector<int64_t>{3, 3, 3, 0}));
  EXPECT_EQ(loss.top1(), 1);
  EXPECT_EQ(loss.correct(3), 1);  // even top-K: only the finite row
}

TEST(SoftmaxCrossEntropy, Errors) {
  SoftmaxCrossEntropy loss;
  EXPECT_MINIDL_ERROR(loss.forward(Tensor::zeros({2, 3}), labels_of({0, 3})), "label 3 of row 1");
  EXPECT_MINIDL_ERROR(loss.forward(Tensor::zeros({2, 3}), Tensor::zeros({2}, DType::i32)), "i64");
  EXPECT_MINIDL_ERROR(loss.backward(), "without a forward");
  EXPECT_MINIDL_ERROR(SoftmaxCrossEntropy(1.5), "outside [0, 1]");
}

}  // namespace
}  // namespace minidl
