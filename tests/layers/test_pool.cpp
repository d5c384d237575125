// MaxPool2d, AvgPool2d, GlobalAvgPool2d: outputs against PyTorch's values and plain loops (floor
// and ceil mode, both average divisors), gradient checks in double (max pooling kink-aware), and
// max pooling's argmax scatter against the plain window scan it replaced, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/parallel.h"
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

// Max pooling written plainly, NCHW, as the kernels were before the stored-argmax backward: the
// first maximum of each window wins, a NaN wins and stops the scan; then every input element sums,
// from 0 and in ascending output order, the dy of the outputs whose maximum it is.
struct MaxPoolReference {
  std::vector<float> y, dx;
};

MaxPoolReference max_pool_reference(const std::vector<float>& x, const Shape& s,
                                    const PoolParams& p, const std::vector<float>& dy) {
  const int64_t N = s[0], C = s[1], H = s[2], W = s[3];
  const int64_t OH = pool_output_size(H, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t OW = pool_output_size(W, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  MaxPoolReference r;
  std::vector<int64_t> arg;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float best = 0;
        int64_t best_i = -1;
        for (int64_t h = oh * p.stride_h - p.pad_h; h < oh * p.stride_h - p.pad_h + p.kernel_h; ++h)
          for (int64_t w = ow * p.stride_w - p.pad_w; w < ow * p.stride_w - p.pad_w + p.kernel_w;
               ++w) {
            if (h < 0 || w < 0 || h >= H || w >= W || (best_i >= 0 && std::isnan(best))) continue;
            float v = x[(nc * H + h) * W + w];
            if (best_i < 0 || v > best || std::isnan(v)) best = v, best_i = h * W + w;
          }
        r.y.push_back(best);
        arg.push_back(best_i);
      }
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < H * W; ++i) {
      float sum = 0;
      for (int64_t j = nc * OH * OW; j < (nc + 1) * OH * OW; ++j)
        if (arg[j] == i) sum += dy[j];
      r.dx.push_back(sum);
    }
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Pooling, MaxPoolArgmaxScatterEqualsTheWindowScanBitForBit) {
  // Small integers make many ties (the first maximum must win); the second input adds NaNs.
  const Shape shape{3, 5, 9, 11};
  std::mt19937 gen(7);
  std::vector<float> ties(shape_numel(shape)), dy_values(shape_numel(shape));
  for (float& v : ties) v = static_cast<float>(static_cast<int>(gen() % 5) - 2);
  std::vector<float> nans = ties;
  for (size_t i = 0; i < nans.size(); i += 37) nans[i] = std::numeric_limits<float>::quiet_NaN();
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& v : dy_values) v = u(gen);
  struct Geometry {
    int64_t k, s, pad;
    bool ceil;
  };
  const int saved_threads = num_threads();
  for (Geometry geo : {Geometry{3, 2, 0, false}, Geometry{3, 2, 1, false}, Geometry{3, 2, 0, true},
                       Geometry{3, 1, 1, false}, Geometry{2, 2, 0, false}, Geometry{2, 1, 0, true}})
    for (const auto* input : {&ties, &nans})
      for (bool cl : {false, true})
        for (int threads : {1, 2}) {
          SCOPED_TRACE(::testing::Message()
                       << "k" << geo.k << " s" << geo.s << " p" << geo.pad
                       << (geo.ceil ? " ceil" : "") << (cl ? " NHWC" : "")
                       << (input == &nans ? " NaN" : "") << " threads " << threads);
          set_num_threads(threads);
          MaxPool2d pool(geo.k, geo.s, geo.pad, geo.ceil);
          Tensor x = Tensor::from_vector(*input, shape);
          if (cl) x = x.contiguous(MemoryFormat::channels_last);
          Tensor y = pool.forward(x);
          std::vector<float> dy(dy_values.begin(), dy_values.begin() + y.numel());
          MaxPoolReference ref = max_pool_reference(*input, shape, pool.params(), dy);
          Tensor dyt = Tensor::from_vector(dy, y.shape());
          if (cl) dyt = dyt.contiguous(MemoryFormat::channels_last);
          EXPECT_TRUE(same_bits(y.to_vector<float>(), ref.y)) << "forward";
          EXPECT_TRUE(same_bits(pool.backward(dyt).to_vector<float>(), ref.dx)) << "backward";
          pool.eval();  // no argmax recorded: the same output
          EXPECT_TRUE(same_bits(pool.forward(x).to_vector<float>(), ref.y)) << "eval forward";
        }
  set_num_threads(saved_threads);
}

}  // namespace
}  // namespace minidl
