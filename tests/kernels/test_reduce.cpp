// Reductions against double-precision sums; argmax tie and NaN rules; fixed order across threads.
#include <gtest/gtest.h>

#include <cmath>

#include "core/parallel.h"
#include "kernels/reduce.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

TEST(Reduce, SumAndMeanMatchDouble) {
  for (int64_t n : {1, 7, 4096, 4097, 100003}) {
    Tensor x = random_tensor({n}, static_cast<uint32_t>(n), 0.f, 1.f);
    double ref = 0;
    for (float v : x.to_vector<float>()) ref += v;
    EXPECT_NEAR(sum_value(x), ref, 1e-6 * n + 1e-6) << n;
    EXPECT_NEAR(mean_value(x), ref / n, 1e-5) << n;
  }
}

TEST(Reduce, SumIsTheSameBitsForAnyThreadCount) {
  Tensor x = random_tensor({250000}, 11);
  int before = num_threads();
  set_num_threads(1);
  float one = sum_value(x);
  set_num_threads(2);
  float two = sum_value(x);
  set_num_threads(3);
  float three = sum_value(x);
  set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
}

TEST(Reduce, PerChannelMatchesDouble) {
  Tensor x = random_tensor({4, 3, 5, 7}, 12);
  Tensor s = Tensor::empty({3}), m = Tensor::empty({3});
  sum_per_channel(x, s);
  mean_per_channel(x, m);
  for (int64_t c = 0; c < 3; ++c) {
    double ref = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 7; ++w) ref += x.at<float>({n, c, h, w});
    EXPECT_NEAR(s.at<float>({c}), ref, 1e-4);
    EXPECT_NEAR(m.at<float>({c}), ref / 140, 1e-6);
  }
}

TEST(Reduce, MaxAlongEachDim) {
  Tensor x = random_tensor({3, 4, 5}, 13);
  for (int dim = 0; dim < 3; ++dim) {
    Shape s;
    for (int d = 0; d < 3; ++d)
      if (d != dim) s.push_back(x.size(d));
    Tensor v = Tensor::empty(s), i = Tensor::empty(s, DType::i64);
    max_along(x, dim, v, i);
    std::vector<float> vv = v.to_vector<float>();
    std::vector<int64_t> vi = i.to_vector<int64_t>();
    size_t j = 0;
    for (int64_t a = 0; a < s[0]; ++a)
      for (int64_t b = 0; b < s[1]; ++b, ++j) {
        float best = -1e30f;
        int64_t best_k = -1;
        for (int64_t k = 0; k < x.size(dim); ++k) {
          std::vector<int64_t> idx = dim == 0   ? std::vector<int64_t>{k, a, b}
                                     : dim == 1 ? std::vector<int64_t>{a, k, b}
                                                : std::vector<int64_t>{a, b, k};
          float val = x.at<float>(idx);
          if (val > best) best = val, best_k = k;
        }
        EXPECT_EQ(vv[j], best);
        EXPECT_EQ(vi[j], best_k);
      }
  }
}

TEST(Reduce, ArgmaxTiesTakeTheFirstAndNaNWins) {
  Tensor x = Tensor::from_vector<float>({1, 3, 3, 0, /**/ 2, NAN, 5, 1}, {2, 4});
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
}

TEST(Reduce, BadArguments) {
  EXPECT_MINIDL_ERROR(sum(random_tensor({4}, 1), Tensor::empty({2})), "sum", "[2]", "expected [1]");
  EXPECT_MINIDL_ERROR(sum_per_channel(random_tensor({4}, 1), Tensor::empty({4})), "sum_per_channel",
                      "[N, C");
  EXPECT_MINIDL_ERROR(argmax(random_tensor({2, 3}, 1), 2), "out of range");
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

TEST(Reduce, DoublePrecision) {
  Tensor x = testing::random_tensor({3, 2, 5}, 30).to(DType::f64);
  double ref = 0;
  for (double v : x.to_vector<double>()) ref += v;
  EXPECT_NEAR(sum_value(x), ref, 1e-13);
  Tensor pc = Tensor::empty({2}, DType::f64);
  sum_per_channel(x, pc);
  EXPECT_EQ(pc.dtype(), DType::f64);
  EXPECT_NEAR(pc.at<double>({0}) + pc.at<double>({1}), ref, 1e-13);
  EXPECT_EQ(argmax(x, 2).dtype(), DType::i64);
}

}  // namespace
}  // namespace minidl
