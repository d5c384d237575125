// MaxPool2d, AvgPool2d, GlobalAvgPool2d: outputs against PyTorch's values and plain loops (floor
// and ceil mode, both average divisors), gradient checks in double (max pooling kink-aware).
#include <gtest/gtest.h>

#include <cmath>

#include "layers/pooling.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_gradients;
using testing::random_double;

// sin(0), sin(1), ... over [2, 2, 5, 5]: the input of the PyTorch values below.
Tensor sin_input() {
  std::vector<double> v(100);
  for (int i = 0; i < 100; ++i) v[i] = std::sin(static_cast<double>(i));
  return Tensor::from_vector(v, {2, 2, 5, 5});
}

Tensor first(const Tensor& t, int64_t n) {
  return t.contiguous().reshape({t.numel()}).narrow(0, 0, n);
}

TEST(Pooling, AvgPoolMatchesPyTorchInCeilModeWithPadding) {
  // torch: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True[, count_include_pad=False]).flatten()[:12]
  AvgPool2d include(3, 2, 1, true, true), exclude(3, 2, 1, true, false);
  Tensor y = include.forward(sin_input());
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3, 3}));
  EXPECT_TRUE(all_close(
      first(y, 12),
      Tensor::from_vector<double>(
          {-0.044096532006018645, 0.36209086298185444, 0.0873104716241197, -0.26888517409000956,
           -0.19441719954417228, 0.24568234303088068, 0.23466504586174836, -0.22430045891620193,
           -0.26143431147672425, -0.08465139655934413, 0.3485712292464298, 0.12625182781357694},
          {12}),
      1e-6, 1e-6));
  EXPECT_TRUE(all_close(
      first(exclude.forward(sin_input()), 12),
      Tensor::from_vector<double>(
          {-0.09921719701354195, 0.5431362944727817, 0.19644856115426934, -0.40332776113501434,
           -0.19441719954417228, 0.36852351454632104, 0.5279963531889338, -0.33645068837430286,
           -0.5882272008226296, -0.1904656422585243, 0.5228568438696447, 0.2840666125805481},
          {12}),
      1e-6, 1e-6));
}

TEST(Pooling, MaxPoolMatchesPyTorchAndCaffeSizes) {
  MaxPool2d pool(3, 2, 0, true);
  Tensor y = pool.forward(sin_input());
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2, 2}));
  EXPECT_TRUE(
      all_close(first(y, 8),
                Tensor::from_vector<double>(
                    {0.9092974268256817, 0.9906073556948704, 0.9129452507276277, 0.9906073556948704,
                     0.956375928404503, 0.9999118601072672, 0.9017883476488092, 0.9637953862840878},
                    {8}),
                1e-6, 1e-6));
  // Caffe's cifar10_full: 3x3 stride-2 pooling of 32x32 gives 16x16 (ceil), floor gives 15.
  EXPECT_EQ(pool_output_size(32, 3, 2, 0, true), 16);
  EXPECT_EQ(pool_output_size(32, 3, 2, 0, false), 15);
  // ceil mode drops a window that would start in the right padding
  EXPECT_EQ(pool_output_size(5, 2, 2, 1, true), 3);
  EXPECT_MINIDL_ERROR(MaxPool2d(3, 1, 2), "more than half");
}

TEST(Pooling, MaxPoolPicksTheWindowMaximumAndRoutesGradients) {
  MaxPool2d pool(2);
  pool.to(DType::f64);
  Tensor x = Tensor::from_vector<double>({1, 5, 2, 0, 3, 4, 9, 1, -1, -2, 0, 7, -3, -4, 8, 6},
                                         {1, 1, 4, 4});
  Tensor y = pool.forward(x);
  EXPECT_TRUE(all_close(y, Tensor::from_vector<double>({5, 9, -1, 8}, {1, 1, 2, 2}), 0, 0));
  Tensor dx = pool.backward(Tensor::from_vector<double>({10, 20, 30, 40}, {1, 1, 2, 2}));
  EXPECT_TRUE(all_close(dx,
                        Tensor::from_vector<double>(
                            {0, 10, 0, 0, 0, 0, 20, 0, 30, 0, 0, 0, 0, 0, 40, 0}, {1, 1, 4, 4}),
                        0, 0));
}

TEST(Pooling, GradientChecks) {
  Tensor x = random_double({2, 3, 7, 6}, 1);
  struct Case {
    std::shared_ptr<Module> m;
    const char* what;
  };
  std::vector<Case> cases = {
      {std::make_shared<MaxPool2d>(2), "max 2"},
      {std::make_shared<MaxPool2d>(3, 2, 1), "max 3/2 pad 1"},
      {std::make_shared<MaxPool2d>(3, 2, 0, true), "max 3/2 ceil"},
      {std::make_shared<MaxPool2d>(3, 1, 1), "max 3/1 overlapping"},
      {std::make_shared<AvgPool2d>(2), "avg 2"},
      {std::make_shared<AvgPool2d>(3, 2, 1, true, true), "avg ceil include pad"},
      {std::make_shared<AvgPool2d>(3, 2, 1, true, false), "avg ceil exclude pad"},
      {std::make_shared<GlobalAvgPool2d>(), "global avg"},
  };
  for (auto& c : cases) {
    c.m->to(DType::f64);
    auto r = check_gradients(*c.m, x);
    EXPECT_TRUE(r) << c.what;
  }
}

TEST(Pooling, GlobalAveragePool) {
  GlobalAvgPool2d pool;
  Tensor x = random_double({2, 3, 4, 5}, 2);
  Tensor y = pool.forward(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 1, 1}));
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int p = 0; p < 6; ++p) {
    double s = 0;
    for (int i = 0; i < 20; ++i) s += xv[p * 20 + i];
    EXPECT_NEAR(yv[p], s / 20, 1e-12);
  }
}

}  // namespace
}  // namespace minidl
