// Sequential, Residual (identity, option A zero-pad, option B projection, the paper's 2x2 stride-2
// projection), ChannelConcat (DenseNet), ZeroPadShortcut: behaviour and gradient checks in double
// of whole blocks (training-mode BN, kink-aware for the ReLUs inside).
#include <gtest/gtest.h>

#include <cstring>

#include "core/parallel.h"
#include "kernels/elementwise.h"
#include "kernels/subsample_pad_channels.h"
#include "layers/layers.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_accumulates;
using testing::check_gradients;
using testing::random_double;

std::shared_ptr<Residual> block(int64_t in, int64_t out, int64_t stride,
                                std::shared_ptr<Module> shortcut) {
  auto b = std::make_shared<Residual>();
  b->add("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, false))
      .add("bn1", std::make_shared<BatchNorm2d>(out))
      .add("relu", std::make_shared<ReLU>(true))
      .add("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, false))
      .add("bn2", std::make_shared<BatchNorm2d>(out));
  if (shortcut) b->shortcut("downsample", shortcut);
  return b;
}

TEST(Sequential, RunsInOrderAndBackwardInReverse) {
  auto fc1 = std::make_shared<Linear>(4, 6), fc2 = std::make_shared<Linear>(6, 3);
  Sequential s{fc1, std::make_shared<ReLU>(), fc2};
  s.to(DType::f64);
  Tensor x = random_double({5, 4}, 1);
  Tensor y = s.forward(x);
  Tensor ref = fc2->forward(ReLU().forward(fc1->forward(x)));
  EXPECT_TRUE(all_close(y, ref, 0, 0));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.parameters()[2]->name, "2.weight");
  EXPECT_TRUE(check_gradients(s, x));
}

TEST(Residual, BlocksWithEveryShortcutPassGradientChecks) {
  struct Case {
    const char* what;
    int64_t in, out, stride;
    std::shared_ptr<Module> shortcut;
  };
  std::vector<Case> cases = {
      {"identity", 4, 4, 1, nullptr},
      {"option A", 3, 6, 2, std::make_shared<ZeroPadShortcut>(3, 6, 2)},
      {"option A, both sides", 2, 6, 2, std::make_shared<ZeroPadShortcut>(2, 6, 2, 2)},
      {"option B", 3, 5, 2,
       sequential(
           {std::make_shared<Conv2d>(3, 5, 1, 2, 0, false), std::make_shared<BatchNorm2d>(5)})},
      {"2x2 stride-2 projection", 3, 5, 2,
       sequential(
           {std::make_shared<Conv2d>(3, 5, 2, 2, 0, false), std::make_shared<BatchNorm2d>(5)})},
  };
  for (auto& c : cases) {
    auto b = block(c.in, c.out, c.stride, c.shortcut);
    b->to(DType::f64);
    testing::GradCheckOptions o;
    o.max_coords = 40;
    auto r = check_gradients(*b, random_double({3, c.in, 6, 6}, 2), o);
    EXPECT_TRUE(r) << c.what;
    EXPECT_TRUE(check_accumulates(*b, random_double({3, c.in, 6, 6}, 3))) << c.what;
  }
}

TEST(Residual, SumsTheBranchesThenReLU) {
  auto conv = std::make_shared<Conv2d>(2, 2, 1, 1, 0, false);
  Residual r;
  r.add("conv", conv);
  r.to(DType::f64);
  Tensor x = random_double({1, 2, 3, 3}, 4);
  Tensor main = conv->forward(x);
  std::vector<double> m = main.to_vector<double>(), xv = x.to_vector<double>(), ref(m.size());
  for (size_t i = 0; i < m.size(); ++i) ref[i] = std::max(0.0, m[i] + xv[i]);
  EXPECT_TRUE(all_close(r.forward(x), Tensor::from_vector(ref, x.shape()), 1e-14, 1e-14));
  Residual mismatched;
  mismatched.add("conv", std::make_shared<Conv2d>(2, 3, 1));
  EXPECT_MINIDL_ERROR(mismatched.forward(Tensor::zeros({1, 2, 3, 3})), "shortcut");
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

// Residual's fused add + ReLU (kernels/add_relu.h) and its reuse of buffers against the unfused
// ops it replaced (add, relu_forward, relu_backward, add into fresh tensors), run by hand on a twin
// block with the same weights: the same bits for y, dx and every parameter gradient. The block's
// output is released before backward (its buffer then takes g) or held (a fresh g).
TEST(Residual, FusedAddReluEqualsTheUnfusedOpsBitForBit) {
  for (bool option_a : {false, true})
    for (bool hold_output : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << (option_a ? "option A" : "identity") << (hold_output ? ", output held" : ""));
      const int64_t in = option_a ? 2 : 4, stride = option_a ? 2 : 1;
      auto make = [&] {
        return block(in, 4, stride,
                     option_a ? std::make_shared<ZeroPadShortcut>(in, 4, 2, 1) : nullptr);
      };
      manual_seed(3);
      auto fused = make();
      manual_seed(3);
      auto ref = make();
      fused->zero_grad();
      ref->zero_grad();
      Tensor x = testing::random_tensor({4, in, 8, 8}, 4);
      Tensor dy = testing::random_tensor({4, 4, 8 / stride, 8 / stride}, 5);

      Tensor h = x;
      for (size_t i = 0; i < ref->size(); ++i) h = (*ref)[i].forward(h);
      Tensor skip = option_a ? ref->shortcut()->forward(x) : x;
      Tensor y_ref = Tensor::empty(h.shape()), g = Tensor::empty(h.shape());
      add(h, skip, y_ref);
      relu_forward(y_ref, y_ref);
      relu_backward(y_ref, dy, g);
      Tensor dskip = option_a ? ref->shortcut()->backward(g) : g;
      Tensor dmain = g;
      for (size_t i = ref->size(); i-- > 0;) dmain = (*ref)[i].backward(dmain);
      Tensor dx_ref = Tensor::empty(x.shape());
      add(dmain, dskip, dx_ref);

      Tensor y = fused->forward(x);
      EXPECT_TRUE(same_bits(y, y_ref)) << "y";
      if (!hold_output) y = Tensor();
      EXPECT_TRUE(same_bits(fused->backward(dy), dx_ref)) << "dx";
      auto pf = fused->parameters(), pr = ref->parameters();
      ASSERT_EQ(pf.size(), pr.size());
      for (size_t i = 0; i < pf.size(); ++i)
        EXPECT_TRUE(same_bits(pf[i]->grad, pr[i]->grad)) << pf[i]->name;
    }
}

TEST(ZeroPadShortcut, SubsamplesAndPadsChannels) {
  ZeroPadShortcut a(2, 4, 2, 1);
  Tensor x = random_double({1, 2, 3, 3}, 5);
  Tensor y = a.forward(x);
  EXPECT_EQ(y.shape(), (Shape{1, 4, 2, 2}));
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int c = 0; c < 4; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w) {
        double want = (c == 1 || c == 2) ? xv[((c - 1) * 3 + 2 * h) * 3 + 2 * w] : 0.0;
        EXPECT_EQ(yv[(c * 2 + h) * 2 + w], want) << c << h << w;
      }
  EXPECT_TRUE(check_gradients(a, random_double({2, 2, 5, 4}, 6)));
}

// The CPU twin walks planes and rows; the reference is the header's element functions, one call
// per element (what the CUDA twin runs and what the CPU ran before). A copy: the same bits.
TEST(ZeroPadShortcut, StridedCopyEqualsTheElementFunctions) {
  struct Case {
    int64_t cx, cy, stride, front, h, w;
  };
  const int saved_threads = num_threads();
  for (Case k : {Case{3, 8, 2, 2, 9, 7}, Case{3, 8, 2, 0, 8, 8}, Case{4, 4, 1, 0, 5, 6},
                 Case{2, 7, 3, 4, 10, 11}, Case{16, 32, 2, 8, 28, 28}})
    for (bool cl : {false, true})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(::testing::Message()
                     << k.cx << " -> " << k.cy << " stride " << k.stride << " front " << k.front
                     << (cl ? " NHWC" : "") << " threads " << threads);
        set_num_threads(threads);
        MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        Tensor x = testing::random_tensor({3, k.cx, k.h, k.w}, 8).contiguous(f);
        const int64_t oh = (k.h + k.stride - 1) / k.stride, ow = (k.w + k.stride - 1) / k.stride;
        Tensor y = Tensor::full({3, k.cy, oh, ow}, 7.0, DType::f32).contiguous(f);
        subsample_pad_channels_forward(x, y, k.stride, k.front);
        Tensor dy = testing::random_tensor(y.shape(), 9).contiguous(f);
        Tensor dx = Tensor::full(x.shape(), 7.0, DType::f32).contiguous(f);
        subsample_pad_channels_backward(dy, dx, k.stride, k.front);
        SubsamplePad p{image_layout("t", x, "x"), image_layout("t", y, "y"), k.stride, k.front};
        const float *px = x.data<float>(), *pdy = dy.data<float>();
        std::vector<float> y_ref(y.numel()), dx_ref(x.numel());
        for (int64_t j = 0; j < y.numel(); ++j) y_ref[j] = subsample_pad_channels_element(px, p, j);
        for (int64_t i = 0; i < x.numel(); ++i)
          dx_ref[i] = subsample_pad_channels_backward_element(pdy, p, i);
        EXPECT_EQ(std::memcmp(y.data<float>(), y_ref.data(), y.nbytes()), 0) << "forward";
        EXPECT_EQ(std::memcmp(dx.data<float>(), dx_ref.data(), dx.nbytes()), 0) << "backward";
      }
  set_num_threads(saved_threads);
}

TEST(ChannelConcat, DenseLayerConcatenatesAndChecks) {
  ChannelConcat dense;
  dense.add("norm1", std::make_shared<BatchNorm2d>(3))
      .add("relu1", std::make_shared<ReLU>())
      .add("conv1", std::make_shared<Conv2d>(3, 2, 3, 1, 1, false));
  dense.to(DType::f64);
  Tensor x = random_double({2, 3, 4, 4}, 7);
  Tensor y = dense.forward(x);
  EXPECT_EQ(y.shape(), (Shape{2, 5, 4, 4}));
  EXPECT_TRUE(all_close(y.narrow(1, 0, 3).contiguous(), x, 0, 0));
  EXPECT_EQ(dense.parameters()[2]->name, "conv1.weight");
  testing::GradCheckOptions o;
  o.max_coords = 48;
  EXPECT_TRUE(check_gradients(dense, x, o));
  // two dense layers in a row (a dense block), with dropout at a fixed mask
  Sequential block;
  auto l1 = std::make_shared<ChannelConcat>(), l2 = std::make_shared<ChannelConcat>();
  l1->add(std::make_shared<BatchNorm2d>(3))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Conv2d>(3, 2, 3, 1, 1, false))
      .add(std::make_shared<Dropout>(0.2, 1));
  l2->add(std::make_shared<BatchNorm2d>(5))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Conv2d>(5, 2, 3, 1, 1, false));
  block.add("denselayer1", l1).add("denselayer2", l2);
  block.to(DType::f64);
  o.before_forward = testing::freeze_randomness(block);
  EXPECT_TRUE(check_gradients(block, x, o));
}

}  // namespace
}  // namespace minidl
