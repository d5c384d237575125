// LRN: across channels against PyTorch's LocalResponseNorm (odd sizes agree with Caffe), within a
// channel against Caffe's definition written as plain loops; gradient checks in double.
#include <gtest/gtest.h>

#include <cmath>

#include "layers/lrn.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_gradients;
using testing::random_double;

TEST(LRN, AcrossChannelsMatchesPyTorch) {
  // torch: x = arange(28).reshape(1,7,2,2).cos() * 3; F.local_response_norm(x, 5, 1e-2, 0.75, 2.0)
  std::vector<double> v(28);
  for (int i = 0; i < 28; ++i) v[i] = std::cos(static_cast<double>(i)) * 3;
  LRN lrn(5, 1e-2, 0.75, 2.0);
  lrn.to(DType::f64);
  Tensor y = lrn.forward(Tensor::from_vector(v, {1, 7, 2, 2}));
  std::vector<double> torch_y = {
      1.7665672249214643,  0.9560470397317468,  -0.7334380308752754, -1.7477232758846686,
      -1.1492567592281138, 0.4991883959078051,  1.6920420737579833,  1.3258411231177185,
      -0.2542801920679433, -1.602601697489321,  -1.4743707136558224, 0.007733185703373493,
      1.4828693882635418,  1.5960373252366222,  0.2389613519959916,  -1.333531672758958,
      -1.6856141359541466, -0.4810915709876921, 1.157796817164109,   1.7410995064632966,
      0.7183821416579047,  -0.9628999277025675, -1.7615153211020755, -0.9383140446918815,
      0.7502650080851501,  1.7520797083334567,  1.139744400032383,   -0.516432590098337};
  EXPECT_TRUE(all_close(y, Tensor::from_vector(torch_y, {1, 7, 2, 2}), 1e-6, 1e-6));
}

TEST(LRN, WithinChannelIsCaffesSquareWindow) {
  // Caffe WITHIN_CHANNEL: scale = 1 + alpha / n^2 * (sum of x^2 over the n x n window, zero padded)
  const int64_t n = 3;
  const double alpha = 5e-2, beta = 0.75;
  LRN lrn(n, alpha, beta, 1.0, LrnRegion::within_channel);
  lrn.to(DType::f64);
  Tensor x = random_double({2, 2, 4, 5}, 1, -3, 3);
  Tensor y = lrn.forward(x);
  std::vector<double> xv = x.to_vector<double>(), ref(xv.size());
  for (int64_t p = 0; p < 4; ++p)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 5; ++w) {
        double sq = 0;
        for (int64_t hh = h - 1; hh <= h + 1; ++hh)
          for (int64_t ww = w - 1; ww <= w + 1; ++ww)
            if (hh >= 0 && hh < 4 && ww >= 0 && ww < 5)
              sq += std::pow(xv[(p * 4 + hh) * 5 + ww], 2);
        double scale = 1 + alpha / (n * n) * sq;
        ref[(p * 4 + h) * 5 + w] = xv[(p * 4 + h) * 5 + w] * std::pow(scale, -beta);
      }
  EXPECT_TRUE(all_close(y, Tensor::from_vector(ref, x.shape()), 1e-12, 1e-12));
}

TEST(LRN, GradientChecks) {
  for (LrnRegion region : {LrnRegion::across_channels, LrnRegion::within_channel}) {
    for (int64_t size : {1, 3, 5}) {
      LRN lrn(size, 0.3, 0.75, 1.5, region);  // a large alpha, so the normalisation matters
      lrn.to(DType::f64);
      EXPECT_TRUE(check_gradients(lrn, random_double({2, 6, 4, 3}, 2, -2, 2))) << lrn.options_str();
    }
  }
  EXPECT_MINIDL_ERROR(LRN(4), "odd");
}

}  // namespace
}  // namespace minidl
