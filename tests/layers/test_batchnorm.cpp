// BatchNorm2d: batch statistics in training (biased variance normalises, unbiased feeds the running
// variance), running statistics in eval, both momentum conventions against their own definitions
// (PyTorch's formula and values, Caffe's unnormalised sums), gradient checks in double; the fused
// BatchNorm2d + ReLU (layers/fusion.h) against the pair it replaces, bit for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "core/parallel.h"
#include "layers/batchnorm.h"
#include "layers/containers.h"
#include "layers/fusion.h"
#include "layers/relu.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_accumulates;
using testing::check_gradients;
using testing::random_double;

// Per-channel mean and biased variance of x [N, C, H, W] (plain loops).
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  std::vector<double> v = x.to_vector<double>();
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  mean.assign(C, 0);
  var.assign(C, 0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) mean[c] += v[(n * C + c) * S + i];
    mean[c] /= static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        double d = v[(n * C + c) * S + i] - mean[c];
        var[c] += d * d;
      }
    var[c] /= static_cast<double>(N * S);
  }
}

TEST(BatchNorm2d, TrainingNormalisesWithBatchStatistics) {
  BatchNorm2d bn(3);
  bn.to(DType::f64);
  Tensor g = random_double({3}, 1, 0.5, 1.5), b = random_double({3}, 2);
  bn.weight()->value.copy_(g);
  bn.bias()->value.copy_(b);
  Tensor x = random_double({4, 3, 5, 2}, 3, -2, 3);
  Tensor y = bn.forward(x);
  std::vector<double> mean, var;
  channel_stats(x, mean, var);
  std::vector<double> xv = x.to_vector<double>(), gv = g.to_vector<double>(),
                      bv = b.to_vector<double>(), ref(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    int64_t c = (static_cast<int64_t>(i) / 10) % 3;
    ref[i] = (xv[i] - mean[c]) / std::sqrt(var[c] + 1e-5) * gv[c] + bv[c];
  }
  EXPECT_TRUE(all_close(y, Tensor::from_vector(ref, x.shape()), 1e-12, 1e-12));
  // Running statistics: (1 - 0.1) * init + 0.1 * batch, unbiased variance (m = 40).
  std::vector<double> rm = bn.running_mean()->value.to_vector<double>(),
                      rv = bn.running_var()->value.to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(rm[c], 0.1 * mean[c], 1e-12);
    EXPECT_NEAR(rv[c], 0.9 + 0.1 * var[c] * 40.0 / 39.0, 1e-12);
  }
  EXPECT_EQ(bn.num_batches_tracked()->value.item<int64_t>(), 1);
}

TEST(BatchNorm2d, RunningStatisticsMatchPyTorch) {
  // torch: m = BatchNorm2d(3, momentum=0.1).double(); x = arange(48).reshape(4,3,2,2).sin();
  //        m(x); m(x * 2 + 1)  -> running_mean, running_var below.
  BatchNorm2d bn(3);
  bn.to(DType::f64);
  std::vector<double> v(48);
  for (int i = 0; i < 48; ++i) v[i] = std::sin(static_cast<double>(i));
  Tensor x = Tensor::from_vector(v, {4, 3, 2, 2});
  bn.forward(x);
  for (double& e : v) e = e * 2 + 1;
  bn.forward(Tensor::from_vector(v, {4, 3, 2, 2}));
  EXPECT_TRUE(all_close(bn.running_mean()->value,
                        Tensor::from_vector<double>(
                            {0.1674654002506228, -0.011199950437224906, 0.17790487623666096}, {3}),
                        1e-12, 1e-12));
  EXPECT_TRUE(all_close(
      bn.running_var()->value,
      Tensor::from_vector<double>({1.0486542814420827, 0.973612895205648, 1.0340798989192335}, {3}),
      1e-12, 1e-12));
}

TEST(BatchNorm2d, CaffeMovingAverageFractionMatchesCaffesSums) {
  // Caffe: S = f S + 1; M = f M + mean; V = f V + unbiased var; estimates M / S and V / S.
  const double f = 0.9;
  BatchNorm2d bn(2, BatchNormOptions::caffe(f));
  bn.to(DType::f64);
  double S = 0, M[2] = {0, 0}, V[2] = {0, 0};
  for (int step = 0; step < 5; ++step) {
    Tensor x = random_double({3, 2, 4, 4}, 10 + step, -1 + step, 2 + 2 * step);
    bn.forward(x);
    std::vector<double> mean, var;
    channel_stats(x, mean, var);
    S = f * S + 1;
    for (int c = 0; c < 2; ++c) {
      M[c] = f * M[c] + mean[c];
      V[c] = f * V[c] + var[c] * 48.0 / 47.0;
    }
    std::vector<double> rm = bn.running_mean()->value.to_vector<double>(),
                        rv = bn.running_var()->value.to_vector<double>();
    for (int c = 0; c < 2; ++c) {
      EXPECT_NEAR(rm[c], M[c] / S, 1e-12) << step;
      EXPECT_NEAR(rv[c], V[c] / S, 1e-12) << step;
    }
  }
  EXPECT_DOUBLE_EQ(BatchNormOptions::caffe(0.9).momentum_at(1), 1.0);
  EXPECT_NEAR(BatchNormOptions::caffe(0.9).momentum_at(1000), 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(BatchNormOptions::caffe(1.0).momentum_at(4), 0.25);  // cumulative average
}

TEST(BatchNorm2d, EvalUsesRunningStatistics) {
  BatchNorm2d bn(2, BatchNormOptions::pytorch(0.1, 1e-3));
  bn.to(DType::f64);
  bn.running_mean()->value.copy_(Tensor::from_vector<double>({0.5, -1.0}, {2}));
  bn.running_var()->value.copy_(Tensor::from_vector<double>({4.0, 0.25}, {2}));
  bn.weight()->value.copy_(Tensor::from_vector<double>({2.0, 3.0}, {2}));
  bn.bias()->value.copy_(Tensor::from_vector<double>({0.1, 0.2}, {2}));
  bn.eval();
  Tensor x = Tensor::from_vector<double>({1.0, 2.0, 3.0, 4.0}, {1, 2, 2, 1});
  Tensor y = bn.forward(x);
  auto ref = [](double v, double m, double var, double g, double b) {
    return (v - m) / std::sqrt(var + 1e-3) * g + b;
  };
  EXPECT_TRUE(
      all_close(y,
                Tensor::from_vector<double>({ref(1, 0.5, 4, 2, 0.1), ref(2, 0.5, 4, 2, 0.1),
                                             ref(3, -1, 0.25, 3, 0.2), ref(4, -1, 0.25, 3, 0.2)},
                                            {1, 2, 2, 1}),
                1e-12, 1e-12));
  EXPECT_EQ(bn.num_batches_tracked()->value.item<int64_t>(), 0);  // eval does not count
}

TEST(BatchNorm2d, GradientCheckInTraining) {
  for (bool affine : {true, false}) {
    BatchNormOptions o;
    o.affine = affine;
    BatchNorm2d bn(3, o);
    bn.to(DType::f64);
    if (affine) {
      bn.weight()->value.copy_(random_double({3}, 4, 0.5, 2));
      bn.bias()->value.copy_(random_double({3}, 5));
    }
    EXPECT_TRUE(check_gradients(bn, random_double({4, 3, 3, 2}, 6))) << affine;
  }
  {  // channels-last: the rows path of kernels/cpu/batchnorm.cpp
    BatchNorm2d bn(3);
    bn.to(DType::f64);
    bn.weight()->value.copy_(random_double({3}, 4, 0.5, 2));
    Tensor x = random_double({4, 3, 3, 2}, 6).contiguous(MemoryFormat::channels_last);
    EXPECT_TRUE(check_gradients(bn, x)) << "channels-last";
  }
  BatchNorm2d bn1d(5);  // [N, C] input, as BatchNorm1d
  bn1d.to(DType::f64);
  EXPECT_TRUE(check_gradients(bn1d, random_double({6, 5}, 7)));
}

// Channels-last rows (summed in blocks of 128 rows) against NCHW (a task per channel): the same
// statistics, outputs and gradients up to the sums' order; and the same bits for 1 and 2 threads.
// 40 x 7 x 9 = 2520 rows: 20 blocks, the last one partial; a fused ReLU in the second round.
TEST(BatchNorm2d, ChannelsLastEqualsNchwForAnyThreadCount) {
  const int saved_threads = num_threads();
  for (bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "fused relu" : "plain");
    Tensor x = random_double({40, 5, 7, 9}, 60, -1, 3).to(DType::f32);
    Tensor dy = random_double({40, 5, 7, 9}, 61).to(DType::f32);
    auto run = [&](MemoryFormat f, int threads) {
      set_num_threads(threads);
      BatchNorm2d bn(5);
      if (relu) bn.set_fused_relu(true);
      bn.weight()->value.copy_(random_double({5}, 62, 0.5, 2).to(DType::f32));
      Tensor y = bn.forward(x.contiguous(f)), dx = bn.backward(dy.contiguous(f));
      EXPECT_EQ(y.memory_format(), f);
      EXPECT_EQ(dx.memory_format(), f);
      return std::vector<Tensor>{y.contiguous(), dx.contiguous(), bn.weight()->grad,
                                 bn.bias()->grad, bn.running_mean()->value,
                                 bn.running_var()->value};
    };
    std::vector<Tensor> nchw = run(MemoryFormat::contiguous, 2);
    std::vector<Tensor> one = run(MemoryFormat::channels_last, 1);
    std::vector<Tensor> two = run(MemoryFormat::channels_last, 2);
    const char* names[] = {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
    for (size_t i = 0; i < nchw.size(); ++i) {
      EXPECT_EQ(one[i].to_vector<float>(), two[i].to_vector<float>()) << names[i];
      // dgamma and dbeta sum 2520 values of order 1
      const double tol = i == 2 || i == 3 ? 1e-3 : 1e-5;
      EXPECT_TRUE(all_close(two[i], nchw[i], tol, 1e-5)) << names[i];
    }
  }
  set_num_threads(saved_threads);
}

TEST(BatchNorm2d, AccumulatesAndRejectsSingleValues) {
  BatchNorm2d bn(2);
  bn.to(DType::f64);
  EXPECT_TRUE(check_accumulates(bn, random_double({3, 2, 2, 2}, 8)));
  EXPECT_MINIDL_ERROR(bn.forward(random_double({1, 2, 1, 1}, 9)), "more than 1 value per channel");
  EXPECT_MINIDL_ERROR(bn.forward(random_double({2, 3, 2, 2}, 9)), "BatchNorm2d", "[N, 2, ...]");
}

TEST(BatchNorm2d, WithoutRunningStatsUsesBatchStatisticsInEval) {
  BatchNormOptions o;
  o.track_running_stats = false;
  BatchNorm2d bn(2, o);
  EXPECT_TRUE(bn.buffers().empty());
  bn.to(DType::f64);
  Tensor x = random_double({3, 2, 2, 2}, 10);
  Tensor train_y = bn.forward(x);
  bn.eval();
  EXPECT_TRUE(all_close(bn.forward(x), train_y, 1e-14, 1e-14));
}

TEST(BatchNorm2d, F32MatchesF64) {
  BatchNorm2d a(4), b(4);
  b.to(DType::f64);
  Tensor x = random_double({8, 4, 7, 7}, 11, -3, 5);
  EXPECT_TRUE(all_close(a.forward(x.to(DType::f32)), b.forward(x), 1e-5, 1e-5));
  Tensor dy = random_double({8, 4, 7, 7}, 12);
  EXPECT_TRUE(all_close(a.backward(dy.to(DType::f32)), b.backward(dy), 1e-5, 1e-4));
  EXPECT_TRUE(all_close(a.weight()->grad, b.weight()->grad, 1e-4, 1e-5));
  EXPECT_TRUE(all_close(a.running_var()->value, b.running_var()->value, 1e-6, 1e-6));
}

// {BatchNorm2d, ReLU} with random affine parameters, fused or not.
std::shared_ptr<Sequential> bn_relu(int64_t C, bool fused, DType dt, bool inplace = false) {
  auto bn = std::make_shared<BatchNorm2d>(C);
  bn->to(dt);
  bn->weight()->value.copy_(random_double({C}, 20, 0.5, 1.5));
  bn->bias()->value.copy_(random_double({C}, 21, -0.5, 0.5));
  auto net = sequential({bn, std::make_shared<ReLU>(inplace)});
  EXPECT_EQ(fuse_bn_relu(*net, fused), 1);
  return net;
}

std::vector<double> values(const Tensor& t) {
  return t.to_vector<double>();
}

// The fused pair computes exactly what BatchNorm2d then ReLU compute: same outputs, input
// gradients, parameter gradients and running statistics, bit for bit, in training (three steps, so
// the running statistics and accumulated gradients move) and in eval; both layouts and dtypes. About
// half of the outputs are clipped, so the mask matters.
TEST(BatchNorm2dFusedRelu, EqualsBatchNormThenReluBitForBit) {
  for (DType dt : {DType::f32, DType::f64})
    for (bool cl : {false, true})
      for (bool inplace : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (cl ? " channels-last" : " NCHW") +
                     (inplace ? " inplace" : ""));
        auto plain = bn_relu(5, false, dt, inplace), fused = bn_relu(5, true, dt, inplace);
        auto& bn_p = static_cast<BatchNorm2d&>((*plain)[0]);
        auto& bn_f = static_cast<BatchNorm2d&>((*fused)[0]);
        EXPECT_FALSE(bn_p.fused_relu());
        EXPECT_TRUE(bn_f.fused_relu());
        for (uint32_t step = 0; step < 3; ++step) {
          Tensor x = random_double({6, 5, 7, 9}, 30 + step, -2.0 + step, 2.0 + step).to(dt);
          Tensor dy = random_double({6, 5, 7, 9}, 40 + step).to(dt);
          if (cl) {
            x = x.contiguous(MemoryFormat::channels_last);
            dy = dy.contiguous(MemoryFormat::channels_last);
          }
          Tensor yp = plain->forward(x), yf = fused->forward(x.clone());
          EXPECT_EQ(values(yp), values(yf));
          EXPECT_EQ(yp.strides(), yf.strides());
          EXPECT_EQ(values(plain->backward(dy)), values(fused->backward(dy)));
        }
        EXPECT_EQ(values(bn_p.weight()->grad), values(bn_f.weight()->grad));
        EXPECT_EQ(values(bn_p.bias()->grad), values(bn_f.bias()->grad));
        EXPECT_EQ(values(bn_p.running_mean()->value), values(bn_f.running_mean()->value));
        EXPECT_EQ(values(bn_p.running_var()->value), values(bn_f.running_var()->value));
        plain->eval();
        fused->eval();
        Tensor x = random_double({3, 5, 4, 4}, 50, -3, 3).to(dt);
        EXPECT_EQ(values(plain->forward(x)), values(fused->forward(x.clone())));
      }
}

TEST(BatchNorm2dFusedRelu, GradientCheck) {
  auto net = bn_relu(3, true, DType::f64);
  EXPECT_TRUE(check_gradients(*net, random_double({4, 3, 3, 2}, 60)));
  EXPECT_TRUE(check_accumulates(*net, random_double({3, 3, 2, 2}, 61)));
}

// Which pairs fuse: neighbours in one Sequential (nested ones too), never across containers; a
// second call finds the same pairs; on = false restores the unfused pair. The tree prints the
// fusion (the ReLU's options).
TEST(BatchNorm2dFusedRelu, FusePassFindsNeighboursOnly) {
  auto inner = sequential({std::make_shared<BatchNorm2d>(2), std::make_shared<ReLU>()});
  auto tail_bn = std::make_shared<BatchNorm2d>(2);
  auto outer = sequential({inner, std::make_shared<ReLU>(), tail_bn});
  auto net = sequential({outer, std::make_shared<ReLU>()});  // tail_bn -> ReLU across containers
  EXPECT_EQ(fuse_bn_relu(*net), 1);
  EXPECT_TRUE(static_cast<BatchNorm2d&>((*inner)[0]).fused_relu());
  EXPECT_TRUE(static_cast<ReLU&>((*inner)[1]).fused());
  EXPECT_FALSE(static_cast<ReLU&>((*outer)[1]).fused());
  EXPECT_FALSE(tail_bn->fused_relu());
  EXPECT_NE(net->describe().find("ReLU(fused into the layer before)"), std::string::npos)
      << net->describe();
  EXPECT_EQ(fuse_bn_relu(*net), 1);
  EXPECT_EQ(fuse_bn_relu(*net, false), 1);
  EXPECT_FALSE(static_cast<BatchNorm2d&>((*inner)[0]).fused_relu());
  EXPECT_FALSE(static_cast<ReLU&>((*inner)[1]).fused());
}

}  // namespace
}  // namespace minidl
