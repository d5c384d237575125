// Weight init by name: the distributions' moments and bounds, fans as torch.nn.init computes them,
// reproducibility from a seed, and the registry's error for an unknown name.
#include <gtest/gtest.h>

#include <cmath>

#include "layers/layers.h"
#include "tests/testing.h"

namespace minidl {
namespace {

void moments(const Tensor& t, double& mean, double& std, double& max_abs) {
  std::vector<double> v = t.to_vector<double>();
  mean = 0;
  for (double e : v) mean += e;
  mean /= static_cast<double>(v.size());
  double var = 0;
  max_abs = 0;
  for (double e : v) {
    var += (e - mean) * (e - mean);
    max_abs = std::max(max_abs, std::fabs(e));
  }
  std = std::sqrt(var / static_cast<double>(v.size()));
}

TEST(Init, Fans) {
  Fans f = compute_fans(Tensor::empty({64, 16, 3, 3}));
  EXPECT_EQ(f.fan_in, 144);
  EXPECT_EQ(f.fan_out, 576);
  f = compute_fans(Tensor::empty({10, 64}));
  EXPECT_EQ(f.fan_in, 64);
  EXPECT_EQ(f.fan_out, 10);
}

TEST(Init, SchemesHaveTheirDistributions) {
  Conv2d conv(32, 64, 3, 1, 1, true);  // fan_in 288, fan_out 576, 18432 weights
  double mean, std, max_abs;
  init_weights(conv, "msra", 1);
  moments(conv.weight()->value, mean, std, max_abs);
  EXPECT_NEAR(mean, 0, 0.003);
  EXPECT_NEAR(std, std::sqrt(2.0 / 288), 0.02 * std::sqrt(2.0 / 288));
  EXPECT_TRUE(testing::all_close(conv.bias()->value, Tensor::zeros({64}), 0, 0));
  init_weights(conv, "msra_fan_out", 1);
  moments(conv.weight()->value, mean, std, max_abs);
  EXPECT_NEAR(std, std::sqrt(2.0 / 576), 0.02 * std::sqrt(2.0 / 576));
  init_weights(conv, "xavier", 1);
  moments(conv.weight()->value, mean, std, max_abs);
  const double xb = std::sqrt(3.0 / 288);
  EXPECT_LE(max_abs, xb);
  EXPECT_GT(max_abs, 0.99 * xb);
  EXPECT_NEAR(std, xb / std::sqrt(3.0), 0.02 * xb);
  init_weights(conv, "pytorch", 1);
  moments(conv.weight()->value, mean, std, max_abs);
  const double pb = 1.0 / std::sqrt(288.0);  // kaiming_uniform_(a = sqrt(5))
  EXPECT_LE(max_abs, pb);
  EXPECT_GT(max_abs, 0.99 * pb);
  moments(conv.bias()->value, mean, std, max_abs);
  EXPECT_LE(max_abs, pb);
  EXPECT_GT(max_abs, 0.5 * pb);
}

TEST(Init, BatchNormIsOneAndZero) {
  BatchNorm2d bn(4);
  bn.weight()->value.copy_(Tensor::full({4}, 3.0));
  bn.bias()->value.copy_(Tensor::full({4}, 3.0));
  init_weights(bn, "msra", 1);
  EXPECT_TRUE(testing::all_close(bn.weight()->value, Tensor::full({4}, 1.0), 0, 0));
  EXPECT_TRUE(testing::all_close(bn.bias()->value, Tensor::zeros({4}), 0, 0));
}

TEST(Init, ReproducibleFromASeedAndDistinctPerLayer) {
  auto net = [] {
    return sequential({std::make_shared<Conv2d>(8, 8, 3), std::make_shared<Conv2d>(8, 8, 3),
                       std::make_shared<Linear>(8, 4)});
  };
  auto a = net(), b = net();
  init_weights(*a, "msra", 42);
  init_weights(*b, "msra", 42);
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_TRUE(testing::all_close(a->parameters()[i]->value, b->parameters()[i]->value, 0, 0));
  // two layers of the same shape draw from different counters of the stream
  EXPECT_FALSE(testing::all_close(a->parameters()[0]->value, a->parameters()[2]->value, 0, 0));
  init_weights(*b, "msra", 43);
  EXPECT_FALSE(testing::all_close(a->parameters()[0]->value, b->parameters()[0]->value, 0, 0));
  // f64 modules are filled too (draws in f32, converted)
  a->to(DType::f64);
  init_weights(*a, "xavier", 1);
  EXPECT_EQ(a->parameters()[0]->value.dtype(), DType::f64);
  // default init follows manual_seed
  manual_seed(9);
  Conv2d c1(3, 4, 3);
  manual_seed(9);
  Conv2d c2(3, 4, 3);
  EXPECT_TRUE(testing::all_close(c1.weight()->value, c2.weight()->value, 0, 0));
}

TEST(Init, UnknownSchemeListsTheKnownOnes) {
  Conv2d conv(3, 4, 3);
  EXPECT_MINIDL_ERROR(init_weights(conv, "kaiming", 1), "unknown weight init 'kaiming'", "msra",
                      "xavier", "pytorch");
}

}  // namespace
}  // namespace minidl
