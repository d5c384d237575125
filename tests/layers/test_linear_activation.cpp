// Linear, ReLU, Dropout, Flatten, Identity: outputs against plain loops, gradient checks in double
// (ReLU kink-aware, Dropout with a fixed mask), the dropout mask statistics and replay.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/dropout.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/identity.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_accumulates;
using testing::check_gradients;
using testing::random_double;

TEST(Linear, ForwardIsXWTransposedPlusBias) {
  Linear fc(3, 2);
  fc.to(DType::f64);
  fc.weight()->value.copy_(Tensor::from_vector<double>({1, 2, 3, -1, 0, 4}, {2, 3}));
  fc.bias()->value.copy_(Tensor::from_vector<double>({0.5, -2}, {2}));
  Tensor y = fc.forward(Tensor::from_vector<double>({1, 1, 1, 2, 0, -1}, {2, 3}));
  EXPECT_TRUE(all_close(y, Tensor::from_vector<double>({6.5, 1, -0.5, -8}, {2, 2}), 0, 0));
}

TEST(Linear, GradientCheckAndAccumulation) {
  for (bool bias : {true, false}) {
    Linear fc(7, 5, bias);
    fc.to(DType::f64);
    EXPECT_TRUE(check_gradients(fc, random_double({4, 7}, 1))) << bias;
    EXPECT_TRUE(check_accumulates(fc, random_double({4, 7}, 2)));
  }
  Linear fc(4, 3);
  EXPECT_MINIDL_ERROR(fc.forward(Tensor::zeros({2, 4, 1, 1})), "Flatten");
  EXPECT_EQ(fc.options_str(), "in_features=4, out_features=3, bias=True");
  EXPECT_TRUE(fc.bias()->is_bias_or_norm);
  EXPECT_FALSE(fc.weight()->is_bias_or_norm);
}

TEST(ReLU, ForwardBackwardAndInPlace) {
  ReLU relu;
  relu.to(DType::f64);
  Tensor x = random_double({3, 4, 5}, 3);
  EXPECT_TRUE(check_gradients(relu, x));
  Tensor y = relu.forward(x);
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(yv[i], xv[i] > 0 ? xv[i] : 0.0);
  ReLU inplace(true);
  Tensor x2 = x.clone();
  Tensor y2 = inplace.forward(x2);
  EXPECT_EQ(y2.data_ptr(), x2.data_ptr());
  EXPECT_TRUE(all_close(y2, y, 0, 0));
  Tensor dy = random_double(x.shape(), 4);
  EXPECT_TRUE(all_close(inplace.backward(dy), relu.backward(dy), 0, 0));
}

TEST(Dropout, KeepsAboutOneMinusPAndScales) {
  Dropout drop(0.3, 1234);
  Tensor x = Tensor::full({200, 500}, 2.0);
  std::vector<float> y = drop.forward(x).to_vector<float>();
  int64_t kept = 0;
  for (float v : y) {
    if (v != 0.f) {
      ++kept;
      EXPECT_FLOAT_EQ(v, 2.0f / 0.7f);
    }
  }
  double frac = static_cast<double>(kept) / static_cast<double>(y.size());
  EXPECT_NEAR(frac, 0.7, 0.005);  // 100k draws: std 0.0015
  // backward replays the mask: dx is zero exactly where y is
  std::vector<float> dx = drop.backward(Tensor::full({200, 500}, 1.0)).to_vector<float>();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(dx[i] == 0.f, y[i] == 0.f);
  drop.eval();
  EXPECT_TRUE(all_close(drop.forward(x), x, 0, 0));
}

TEST(Dropout, MasksAreSeededAndAdvance) {
  Dropout a(0.5, 7), b(0.5, 7), c(0.5, 8);
  Tensor x = Tensor::full({1000}, 1.0);
  Tensor ya = a.forward(x), yb = b.forward(x), yc = c.forward(x);
  EXPECT_TRUE(all_close(ya, yb, 0, 0));             // same seed, same mask
  EXPECT_FALSE(all_close(ya, yc, 0, 0));            // another seed
  EXPECT_FALSE(all_close(a.forward(x), ya, 0, 0));  // the next forward draws a new mask
  // two layers built with the default seed draw different streams
  manual_seed(3);
  Dropout d1(0.5), d2(0.5);
  EXPECT_NE(d1.generator().seed(), d2.generator().seed());
}

// The stream lives in the "rng_state" buffer and advances there (dropout_reserve): each forward
// takes the next uniform_counters(numel) counters, as Generator::reserve counts them, and its
// mask is the one dropout_apply draws at that (seed, offset); the state survives a state_dict
// round trip, and a layer loaded from it continues with the same masks.
TEST(Dropout, TheStreamAdvancesInItsBufferAndTravelsWithTheStateDict) {
  Dropout a(0.5, 41);
  Tensor x = Tensor::full({3, 333}, 1.0);
  Generator expect(41);
  for (int step = 0; step < 3; ++step) {
    const uint64_t offset = expect.reserve(uniform_counters(x.numel()));
    Tensor want = Tensor::empty(x.shape());
    dropout_apply(x, want, 0.5f, 41, offset);
    EXPECT_TRUE(all_close(a.forward(x), want, 0, 0)) << "step " << step;
    EXPECT_EQ(a.generator().offset(), expect.offset());
  }
  Dropout b(0.5, 1);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.generator().seed(), 41u);
  EXPECT_TRUE(all_close(b.forward(x), a.forward(x), 0, 0)) << "the loaded stream continues";
  for (Buffer* buf : a.buffers()) EXPECT_TRUE(buf->random_state) << buf->name;
}

TEST(DropoutKernels, ReserveCopiesTheStreamAndAdvancesItsOffset) {
  Tensor state = Tensor::from_vector<int64_t>({-5, (int64_t(1) << 40) + 3}, {2});
  Tensor draw = Tensor::zeros({2}, DType::i64);
  dropout_reserve(state, draw, 1000);
  EXPECT_EQ(draw.to_vector<int64_t>(), (std::vector<int64_t>{-5, (int64_t(1) << 40) + 3}));
  EXPECT_EQ(state.to_vector<int64_t>()[1],
            (int64_t(1) << 40) + 3 + static_cast<int64_t>(uniform_counters(1000)));
  // The seed is a uint64 bit-cast: -5 draws the masks of seed 2^64 - 5.
  Tensor x = Tensor::full({777}, 1.0), y = Tensor::empty({777}), z = Tensor::empty({777});
  dropout_apply(x, y, 0.4f, draw);
  dropout_apply(x, z, 0.4f, ~uint64_t(4), (uint64_t(1) << 40) + 3);
  EXPECT_TRUE(all_close(y, z, 0, 0));
  EXPECT_MINIDL_ERROR(dropout_apply(x, y, 0.4f, Tensor::zeros({3}, DType::i64)), "dropout",
                      "draw must be i64 [2]");
  EXPECT_MINIDL_ERROR(dropout_reserve(state, Tensor::zeros({2}), 5), "dropout_reserve",
                      "draw must be i64 [2]", "f32");
}

TEST(Dropout, GradientCheckWithAFixedMask) {
  Dropout drop(0.4, 99);
  drop.to(DType::f64);
  testing::GradCheckOptions o;
  o.before_forward = testing::freeze_randomness(drop);
  EXPECT_TRUE(check_gradients(drop, random_double({5, 6}, 5), o));
}

TEST(Flatten, ReshapesAndRestores) {
  Flatten f;
  Tensor x = random_double({2, 3, 4, 5}, 6);
  Tensor y = f.forward(x.contiguous(MemoryFormat::channels_last));
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_TRUE(all_close(y, x.reshape({2, 60}), 0, 0));  // NCHW order, as PyTorch's flatten
  Tensor dx = f.backward(y);
  EXPECT_EQ(dx.shape(), x.shape());
  EXPECT_TRUE(all_close(dx, x, 0, 0));
  EXPECT_TRUE(check_gradients(f, random_double({2, 3, 2, 2}, 7)));
  Identity id;
  EXPECT_TRUE(check_gradients(id, random_double({3, 2}, 8)));
}

}  // namespace
}  // namespace minidl
