// Random fills: reproducible per (seed, offset), element i independent of the fill's size, right
// moments; the deterministic log/cos against the C library.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/random.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(Random, DeterministicMathIsAccurate) {
  for (float u = 1.0f / 16777216.0f; u <= 1.0f; u *= 1.37f) {
    float ref = std::log(u);
    EXPECT_NEAR(det_log_unit(u), ref, 3e-7 * std::fabs(ref) + 1e-7) << u;
  }
  EXPECT_EQ(det_log_unit(1.0f), 0.0f);
  for (int i = 0; i < 1000; ++i) {
    float u = i / 1000.0f;
    EXPECT_NEAR(det_cos_2pi(u), std::cos(2 * M_PI * u), 4e-7) << u;
  }
}

TEST(Random, SameSeedSameNumbersAndPrefixProperty) {
  Tensor a = Tensor::empty({1000}), b = Tensor::empty({1000}), c = Tensor::empty({10});
  normal_(a, 0.f, 1.f, 42, 7);
  normal_(b, 0.f, 1.f, 42, 7);
  normal_(c, 0.f, 1.f, 42, 7);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  std::vector<float> va = a.to_vector<float>(), vc = c.to_vector<float>();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(va[i], vc[i]);  // element i depends on i only
  normal_(b, 0.f, 1.f, 43, 7);
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
}

TEST(Random, GeneratorAdvancesSoFillsDiffer) {
  Generator g(5);
  Tensor a = Tensor::empty({8}), b = Tensor::empty({8});
  uniform_(a, 0.f, 1.f, g);
  uniform_(b, 0.f, 1.f, g);
  EXPECT_EQ(g.offset(), 4u);
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
  // the second fill is the continuation of one long fill
  Tensor both = Tensor::empty({16});
  uniform_(both, 0.f, 1.f, 5, 0);
  std::vector<float> vb = both.to_vector<float>(), v2 = b.to_vector<float>();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(vb[8 + i], v2[i]);
}

TEST(Random, Moments) {
  const int64_t n = 200000;
  Tensor u = Tensor::empty({n}), z = Tensor::empty({n}), m = Tensor::empty({n}, DType::u8);
  uniform_(u, -2.f, 4.f, 1, 0);
  normal_(z, 3.f, 2.f, 2, 0);
  bernoulli_(m, 0.3f, 3, 0);
  auto moments = [](const std::vector<double>& v) {
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    for (double x : v) var += (x - mean) * (x - mean);
    return std::make_pair(mean, var / v.size());
  };
  std::vector<float> fu = u.to_vector<float>(), fz = z.to_vector<float>();
  std::vector<uint8_t> fm = m.to_vector<uint8_t>();
  auto [mu, vu] = moments(std::vector<double>(fu.begin(), fu.end()));
  auto [mz, vz] = moments(std::vector<double>(fz.begin(), fz.end()));
  auto [mm, vm] = moments(std::vector<double>(fm.begin(), fm.end()));
  EXPECT_NEAR(mu, 1.0, 0.02);
  EXPECT_NEAR(vu, 3.0, 0.03);  // (b - a)^2 / 12
  EXPECT_NEAR(mz, 3.0, 0.02);
  EXPECT_NEAR(vz, 4.0, 0.05);
  EXPECT_NEAR(mm, 0.3, 0.005);
  for (float x : fu) ASSERT_TRUE(x >= -2.f && x < 4.f);
  // Normal tails: about 0.27% beyond 3 sigma.
  int64_t tails = 0;
  for (float x : fz) tails += std::fabs(x - 3.f) > 6.f;
  EXPECT_NEAR(tails / static_cast<double>(n), 0.0027, 0.0006);
  (void)vm;
}

TEST(Random, BadArguments) {
  EXPECT_MINIDL_ERROR(uniform_(Tensor::empty({2}), 1.f, 0.f, 0, 0), "uniform_", "lo");
  EXPECT_MINIDL_ERROR(bernoulli_(Tensor::empty({2}), 1.5f, 0, 0), "bernoulli_", "1.5");
  EXPECT_MINIDL_ERROR(normal_(Tensor::empty({2}, DType::i32), 0.f, 1.f, 0, 0), "normal_", "i32");
}

}  // namespace
}  // namespace minidl
