// Every layer with CUDA code against its CPU twin: the same module (same weights, loaded from the
// CPU copy) on cuda:0 and on the CPU, the same input, then the forward output, dx, every parameter
// gradient and every buffer (BN running statistics) compared. NCHW and channels-last inputs.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <functional>

#include "kernels/conv.h"
#include "layers/fusion.h"
#include "layers/layers.h"
#include "models/registry.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

// Why layer twins are compared with a tolerance, not bit for bit (element math itself never fuses:
// --fmad=false, -ffp-contract=off): convolutions are cuDNN against im2col + OpenBLAS (other
// summation orders; TF32 is off), BN/pooling/softmax statistics are sums in another order, and the
// device's expf/logf/rsqrtf/powf differ from glibc's by an ulp or two. 1e-5 covers single sums
// and library functions on values of order 1; 1e-4 sums over a 3x3xC window; parameter gradients
// (sums over the whole batch) get 10x the layer's tolerance.
struct Tolerance {
  double atol = 1e-5, rtol = 1e-5;
};

// Runs make() twice with the same default seed, puts one copy on the GPU (weights copied from the
// CPU one), and compares a training step (forward, backward) and an eval forward.
void expect_twin(const char* what, const std::function<std::shared_ptr<Module>()>& make,
                 const Tensor& x, Tolerance tol = {}, bool channels_last = false) {
  SCOPED_TRACE(std::string(what) + (channels_last ? " (channels-last)" : ""));
  manual_seed(11);
  std::shared_ptr<Module> cpu = make();
  manual_seed(11);
  std::shared_ptr<Module> gpu = make();
  gpu->load_state_dict(cpu->state_dict());
  gpu->to(kGpu);
  Tensor xg = x.to(kGpu);
  if (channels_last) xg = xg.contiguous(MemoryFormat::channels_last);
  Tensor yc = cpu->forward(x), yg = gpu->forward(xg);
  EXPECT_TRUE(yg.device() == kGpu);
  if (channels_last && yg.dim() == 4 && yg.size(1) > 1 && yg.size(2) * yg.size(3) > 1)
    EXPECT_TRUE(yg.is_contiguous(MemoryFormat::channels_last)) << "the output left channels-last";
  EXPECT_TRUE(all_close(yg, yc, tol.atol, tol.rtol)) << "forward";
  Tensor dy = random_tensor(yc.shape(), 99);
  Tensor dyg = dy.to(kGpu);
  if (channels_last && dyg.dim() == 4) dyg = dyg.contiguous(MemoryFormat::channels_last);
  Tensor dxc = cpu->backward(dy), dxg = gpu->backward(dyg);
  ASSERT_EQ(dxc.defined(), dxg.defined());
  if (dxc.defined()) EXPECT_TRUE(all_close(dxg, dxc, tol.atol, tol.rtol)) << "dx";
  auto pc = cpu->parameters(), pg = gpu->parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_TRUE(all_close(pg[i]->grad, pc[i]->grad, tol.atol * 10, tol.rtol * 10)) << pc[i]->name;
  auto bc = cpu->buffers(), bg = gpu->buffers();
  for (size_t i = 0; i < bc.size(); ++i)
    EXPECT_TRUE(
        all_close(bg[i]->value.to(DType::f32), bc[i]->value.to(DType::f32), tol.atol, tol.rtol))
        << bc[i]->name;
  cpu->eval();
  gpu->eval();
  EXPECT_TRUE(all_close(gpu->forward(xg), cpu->forward(x), tol.atol, tol.rtol)) << "eval forward";
}

class LayerTwin : public ::testing::Test {
 protected:
  void SetUp() override { set_conv_allow_tf32(false); }  // FMA-only cuDNN kernels: close to the CPU
  void TearDown() override {
    set_conv_allow_tf32(true);
    set_conv_benchmark(false);
    set_conv_deterministic(false);
  }
};

TEST_F(LayerTwin, Conv2d) {
  MINIDL_SKIP_WITHOUT_GPU();
  struct Case {
    Conv2dOptions o;
    Shape x;
  };
  std::vector<Case> cases = {
      {Conv2dOptions(3, 16, 3).padding(1), {4, 3, 16, 16}},
      {Conv2dOptions(16, 32, 3).stride(2).padding(1).bias(false), {4, 16, 15, 15}},
      {Conv2dOptions(8, 8, 1).bias(false), {3, 8, 7, 7}},
      {Conv2dOptions(8, 16, 2).stride(2).bias(false), {3, 8, 8, 8}},
      {Conv2dOptions(4, 6, 3).dilation(2).padding(2), {2, 4, 9, 11}},
      {Conv2dOptions(3, 8, 7).stride(2).padding(3), {2, 3, 32, 32}},
  };
  for (const Case& c : cases)
    for (bool cl : {false, true})
      expect_twin(
          "conv", [&] { return std::make_shared<Conv2d>(c.o); }, random_tensor(c.x, 1),
          {1e-4, 1e-4}, cl);
}

TEST_F(LayerTwin, Conv2dWithTimedAlgorithmSearch) {
  MINIDL_SKIP_WITHOUT_GPU();
  set_conv_benchmark(true);  // cudnnFind*Ex; the filter search must not touch the accumulated dw
  for (bool cl : {false, true})
    expect_twin(
        "conv timed",
        [] { return std::make_shared<Conv2d>(Conv2dOptions(8, 16, 3).stride(2).padding(1)); },
        random_tensor({4, 8, 15, 15}, 21), {1e-4, 1e-4}, cl);
}

TEST_F(LayerTwin, Conv2dCachesOneAlgorithmSetPerShape) {
  MINIDL_SKIP_WITHOUT_GPU();
  Conv2d conv(5, 7, 3, 1, 1);
  conv.to(kGpu);
  Tensor x = random_tensor({3, 5, 13, 13}, 2).to(kGpu);
  int64_t before = conv_algorithm_cache_size();
  Tensor y = conv.forward(x);
  conv.backward(y);
  EXPECT_EQ(conv_algorithm_cache_size(), before + 1);
  y = conv.forward(x);
  conv.backward(y);
  EXPECT_EQ(conv_algorithm_cache_size(), before + 1);
  conv.forward(random_tensor({2, 5, 13, 13}, 3).to(kGpu));
  EXPECT_EQ(conv_algorithm_cache_size(), before + 2);
}

// --deterministic: only algorithms cuDNN reports deterministic, timed or not, so the same step
// gives the same bits twice (backward-filter is where cuDNN's fastest choices use atomics). Shapes
// of a real network's stages, channels-last too, large enough for split-K style kernels.
TEST_F(LayerTwin, Conv2dDeterministicModeRepeatsBitForBit) {
  MINIDL_SKIP_WITHOUT_GPU();
  set_conv_allow_tf32(true);  // the default of a training run
  set_conv_deterministic(true);
  for (bool timed : {false, true})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(std::string(timed ? "timed" : "heuristic") + (cl ? ", channels-last" : ""));
      set_conv_benchmark(timed);
      auto step = [&] {
        manual_seed(5);
        Conv2d conv(Conv2dOptions(64, 64, 3).padding(1));
        conv.to(kGpu);
        Tensor x = random_tensor({64, 64, 16, 16}, 8).to(kGpu);
        if (cl) x = x.contiguous(MemoryFormat::channels_last);
        Tensor y = conv.forward(x);
        Tensor dx = conv.backward(y);
        return std::vector<std::vector<uint8_t>>{testing::bytes_of(y), testing::bytes_of(dx),
                                                 testing::bytes_of(conv.parameters()[0]->grad),
                                                 testing::bytes_of(conv.parameters()[1]->grad)};
      };
      EXPECT_EQ(step(), step());
    }
}

TEST_F(LayerTwin, BatchNorm) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (bool cl : {false, true}) {
    expect_twin(
        "bn", [] { return std::make_shared<BatchNorm2d>(6); },
        random_tensor({8, 6, 9, 7}, 3, -2.f, 3.f), {1e-5, 1e-4}, cl);
    expect_twin(
        "bn caffe", [] { return std::make_shared<BatchNorm2d>(5, BatchNormOptions::caffe(0.9)); },
        random_tensor({4, 5, 6, 6}, 4), {1e-5, 1e-4}, cl);
  }
  expect_twin("bn [N, C]", [] { return std::make_shared<BatchNorm2d>(10); },
              random_tensor({32, 10}, 5), {1e-5, 1e-4});
  // large per-channel counts (several CUB slices per channel)
  expect_twin("bn large", [] { return std::make_shared<BatchNorm2d>(3); },
              random_tensor({64, 3, 32, 32}, 6), {1e-5, 1e-3});
  BatchNormOptions o;
  o.affine = false;
  expect_twin("bn no affine", [o] { return std::make_shared<BatchNorm2d>(4, o); },
              random_tensor({5, 4, 3, 3}, 7), {1e-5, 1e-4});
  // The fused ReLU (layers/fusion.h): the mask applied where values are written and dy read.
  for (bool cl : {false, true})
    expect_twin(
        "bn + relu fused",
        [] {
          auto net = sequential({std::make_shared<BatchNorm2d>(6), std::make_shared<ReLU>()});
          fuse_bn_relu(*net);
          return net;
        },
        random_tensor({8, 6, 9, 7}, 3, -2.f, 3.f), {1e-5, 1e-4}, cl);
}

TEST_F(LayerTwin, Pooling) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor x = random_tensor({3, 5, 11, 10}, 8);
  for (bool cl : {false, true}) {
    expect_twin(
        "max 2", [] { return std::make_shared<MaxPool2d>(2); }, x, {}, cl);
    expect_twin(
        "max 3/2/1", [] { return std::make_shared<MaxPool2d>(3, 2, 1); }, x, {}, cl);
    expect_twin(
        "max ceil", [] { return std::make_shared<MaxPool2d>(3, 2, 0, true); }, x, {}, cl);
    expect_twin(
        "avg", [] { return std::make_shared<AvgPool2d>(3, 2, 1, true, false); }, x, {}, cl);
    expect_twin(
        "avg include pad", [] { return std::make_shared<AvgPool2d>(3, 2, 1); }, x, {}, cl);
    expect_twin(
        "global avg", [] { return std::make_shared<GlobalAvgPool2d>(); }, x, {}, cl);
  }
}

TEST_F(LayerTwin, ElementwiseLayers) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor x = random_tensor({4, 6, 5, 5}, 9);
  for (bool cl : {false, true}) {
    expect_twin(
        "relu", [] { return std::make_shared<ReLU>(); }, x, {0, 0}, cl);
    expect_twin(
        "relu inplace", [] { return std::make_shared<ReLU>(true); }, x, {0, 0}, cl);
    // identical Philox masks (over memory order, so for one layout): the outputs agree exactly
    if (!cl) expect_twin("dropout", [] { return std::make_shared<Dropout>(0.3, 1234); }, x, {0, 0});
    expect_twin(
        "lrn across", [] { return std::make_shared<LRN>(5, 0.1, 0.75, 2.0); }, x, {1e-5, 1e-5}, cl);
    expect_twin(
        "lrn within",
        [] { return std::make_shared<LRN>(3, 5e-2, 0.75, 1.0, LrnRegion::within_channel); }, x,
        {1e-5, 1e-5}, cl);
    expect_twin(
        "flatten", [] { return std::make_shared<Flatten>(); }, x, {0, 0}, cl);
  }
  expect_twin("linear", [] { return std::make_shared<Linear>(30, 7); }, random_tensor({9, 30}, 10),
              {1e-5, 1e-5});
}

TEST_F(LayerTwin, Blocks) {
  MINIDL_SKIP_WITHOUT_GPU();
  auto block = [](int64_t in, int64_t out, int64_t stride, bool option_a) {
    auto b = std::make_shared<Residual>();
    b->add("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, false))
        .add("bn1", std::make_shared<BatchNorm2d>(out))
        .add("relu", std::make_shared<ReLU>(true))
        .add("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, false))
        .add("bn2", std::make_shared<BatchNorm2d>(out));
    if (in != out || stride != 1) {
      if (option_a)
        b->shortcut("shortcut", std::make_shared<ZeroPadShortcut>(in, out, stride));
      else
        b->shortcut("downsample",
                    sequential({std::make_shared<Conv2d>(in, out, 1, stride, 0, false),
                                std::make_shared<BatchNorm2d>(out)}));
    }
    return b;
  };
  Tensor x = random_tensor({4, 8, 10, 10}, 11);
  for (bool cl : {false, true}) {
    expect_twin(
        "basic block", [&] { return block(8, 8, 1, false); }, x, {1e-4, 1e-3}, cl);
    expect_twin(
        "option B", [&] { return block(8, 16, 2, false); }, x, {1e-4, 1e-3}, cl);
    expect_twin(
        "option A", [&] { return block(8, 16, 2, true); }, x, {1e-4, 1e-3}, cl);
    expect_twin(
        "dense layer",
        [cl] {
          auto d = std::make_shared<ChannelConcat>();
          d->add("norm1", std::make_shared<BatchNorm2d>(8))
              .add("relu1", std::make_shared<ReLU>())
              .add("conv1", std::make_shared<Conv2d>(8, 4, 3, 1, 1, false));
          if (!cl)
            d->add("dropout", std::make_shared<Dropout>(0.2, 5));  // masks follow memory order
          return d;
        },
        x, {1e-4, 1e-3}, cl);
  }
}

// A whole network set to channels_last on the GPU (NHWC from the first convolution on, cuDNN's
// NHWC kernels) against the same network in NCHW on the CPU, given the same NCHW batch.
TEST_F(LayerTwin, ChannelsLastModelEqualsCpuNchw) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (const char* name : {"resnet20", "densenet40"}) {
    SCOPED_TRACE(name);
    ModelArgs args{3, 32, 10, {}};
    if (std::string(name) == "densenet40") args.options["dropout"] = "0";
    std::shared_ptr<Module> cpu = make_model(name, args), gpu = make_model(name, args);
    gpu->load_state_dict(cpu->state_dict());
    gpu->set_memory_format(MemoryFormat::channels_last);
    gpu->to(kGpu);
    Tensor x = random_tensor({8, 3, 32, 32}, 3), dy = random_tensor({8, 10}, 4);
    Tensor yc = cpu->forward(x), yg = gpu->forward(x.to(kGpu));
    EXPECT_TRUE(all_close(yg, yc, 1e-4, 1e-3)) << "logits";
    Tensor dxc = cpu->backward(dy), dxg = gpu->backward(dy.to(kGpu));
    EXPECT_TRUE(dxg.is_contiguous(MemoryFormat::channels_last)) << "dx left channels-last";
    EXPECT_TRUE(all_close(dxg, dxc, 1e-4, 1e-3)) << "dx";
    auto pc = cpu->parameters(), pg = gpu->parameters();
    for (size_t i = 0; i < pc.size(); ++i)
      EXPECT_TRUE(all_close(pg[i]->grad, pc[i]->grad, 1e-3, 1e-2)) << pc[i]->name;
  }
}

TEST_F(LayerTwin, SoftmaxCrossEntropy) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (double eps : {0.0, 0.1}) {
    Tensor z = random_tensor({37, 1000}, 12, -8.f, 8.f);
    std::vector<int64_t> lv(37);
    for (int i = 0; i < 37; ++i) lv[i] = (i * 997) % 1000;
    Tensor labels = Tensor::from_vector(lv, {37});
    SoftmaxCrossEntropy c(eps), g(eps);
    Tensor lc = c.forward(z, labels), lg = g.forward(z.to(kGpu), labels.to(kGpu));
    EXPECT_TRUE(all_close(lg, lc, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(g.backward(), c.backward(), 1e-7, 1e-5));
    EXPECT_EQ(g.ranks().to_vector<int64_t>(), c.ranks().to_vector<int64_t>());
    EXPECT_EQ(g.top5(), c.top5());
  }
}

}  // namespace
}  // namespace minidl
