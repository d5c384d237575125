// bf16 / f16 activations on the GPU against the CPU twin (tests/kernels/test_activations16.cpp
// checks the CPU twin): the element-wise ops and the option-A shortcut bit for bit (the same
// element math and one rounding; a copy), batch norm within one 16-bit unit (its sums are taken in
// another order) with its f32 statistics at f32 tolerance; and a bf16 ResNet block (conv, BN +
// ReLU, option-A shortcut, add + ReLU) end to end, whose activations stay 16-bit on both devices.
// Both layouts. Skipped without a GPU.
#include <gtest/gtest.h>

#include "kernels/add_relu.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/subsample_pad_channels.h"
#include "layers/fusion.h"
#include "layers/layers.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::bytes_of;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

MemoryFormat format(bool cl) {
  return cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}

TEST(CudaTwin, Activations16ElementwiseAndShortcutAreBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " NHWC" : " NCHW"));
      const MemoryFormat f = format(cl);
      Tensor a0 = testing::tensor_with_specials({3, 24, 17, 9}, 1);
      Tensor a = a0.contiguous(f).to(p);
      Tensor b = testing::tensor_with_specials({3, 24, 17, 9}, 2, &a0).contiguous(f).to(p);
      Tensor ag = a.to(kGpu), bg = b.to(kGpu);
      auto both = [&](const char* what, auto op) {
        Tensor oc = Tensor::empty(a.shape(), p, Device::cpu(), f);
        Tensor og = Tensor::empty(a.shape(), p, kGpu, f);
        op(a, b, oc);
        op(ag, bg, og);
        EXPECT_TRUE(bytes_of(og) == bytes_of(oc)) << what;
      };
      both("add", [](auto& x, auto& y, auto& o) { add(x, y, o); });
      both("mul", [](auto& x, auto& y, auto& o) { mul(x, y, o); });
      both("relu_forward", [](auto& x, auto&, auto& o) { relu_forward(x, o); });
      both("relu_backward", [](auto& x, auto& y, auto& o) { relu_backward(x, y, o); });
      both("add_relu_forward", [](auto& x, auto& y, auto& o) { add_relu_forward(x, y, o); });
      both("add_relu_backward", [](auto& x, auto& y, auto& o) { add_relu_backward(x, y, o); });

      Tensor sc = Tensor::empty({3, 48, 9, 5}, p, Device::cpu(), f);
      Tensor sg = Tensor::empty({3, 48, 9, 5}, p, kGpu, f);
      subsample_pad_channels_forward(a, sc, 2, 12);
      subsample_pad_channels_forward(ag, sg, 2, 12);
      EXPECT_TRUE(bytes_of(sg) == bytes_of(sc)) << "shortcut forward";
      Tensor dc = Tensor::empty(a.shape(), p, Device::cpu(), f),
             dg = Tensor::empty(a.shape(), p, kGpu, f);
      subsample_pad_channels_backward(sc, dc, 2, 12);
      subsample_pad_channels_backward(sg, dg, 2, 12);
      EXPECT_TRUE(bytes_of(dg) == bytes_of(dc)) << "shortcut backward";
    }
}

TEST(CudaTwin, Activations16BatchNormIsTheCpuTwinWithinAUnit) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true})
      for (bool relu : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(p) << (cl ? " NHWC" : " NCHW") << (relu ? " relu" : ""));
        const MemoryFormat f = format(cl);
        const double unit = p == DType::bf16 ? 1.0 / 128 : 1.0 / 1024;
        Tensor x = random_tensor({16, 32, 14, 14}, 1, -2.f, 3.f).contiguous(f).to(p);
        Tensor dy = random_tensor({16, 32, 14, 14}, 2).contiguous(f).to(p);
        Tensor gamma = random_tensor({32}, 3, 0.5f, 1.5f), beta = random_tensor({32}, 4);
        auto run = [&](Device d) {
          std::vector<Tensor> r;
          Tensor y = Tensor::empty(x.shape(), p, d, f), mean = Tensor::empty({32}, DType::f32, d);
          Tensor invstd = Tensor::empty({32}, DType::f32, d);
          Tensor rm = Tensor::zeros({32}, DType::f32, d),
                 rv = Tensor::full({32}, 1.0, DType::f32, d);
          Tensor xd = x.to(d), dyd = dy.to(d), g = gamma.to(d), b = beta.to(d);
          batchnorm_forward_train(xd, g, b, y, mean, invstd, rm, rv, 0.1, 1e-5, relu);
          Tensor dx = Tensor::empty(x.shape(), p, d, f), dg = Tensor::zeros({32}, DType::f32, d);
          Tensor db = Tensor::zeros({32}, DType::f32, d);
          batchnorm_backward_train(xd, dyd, g, mean, invstd, dx, dg, db, relu ? y : Tensor());
          Tensor ye = Tensor::empty(x.shape(), p, d, f);
          batchnorm_forward_eval(xd, g, b, rm, rv, ye, 1e-5, relu);
          return std::vector<Tensor>{y, dx, ye, mean, invstd, rm, rv, dg, db};
        };
        std::vector<Tensor> c = run(Device::cpu()), g = run(kGpu);
        const char* names[] = {"y",           "dx",     "eval y", "mean", "invstd", "running_mean",
                               "running_var", "dgamma", "dbeta"};
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_close(g[i], c[i], unit, unit)) << names[i];
        for (int i = 3; i < 9; ++i) EXPECT_TRUE(all_close(g[i], c[i], 1e-4, 1e-4)) << names[i];
      }
}

TEST(CudaTwin, Bf16ResidualBlockKeeps16BitActivationsAndMatchesTheCpu) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (bool cl : {false, true}) {
    SCOPED_TRACE(cl ? "channels-last" : "NCHW");
    auto make = [&] {
      manual_seed(5);
      auto block = std::make_shared<Residual>();
      block->add("conv1", std::make_shared<Conv2d>(16, 32, 3, 2, 1, false));
      block->add("bn1", std::make_shared<BatchNorm2d>(32));
      block->add("relu", std::make_shared<ReLU>());
      block->add("conv2", std::make_shared<Conv2d>(32, 32, 3, 1, 1, false));
      block->add("bn2", std::make_shared<BatchNorm2d>(32));
      block->shortcut("shortcut", std::make_shared<ZeroPadShortcut>(16, 32, 2, 8));
      block->set_compute_precision(DType::bf16);
      if (cl) block->set_memory_format(MemoryFormat::channels_last);
      fuse_bn_relu(*block);
      return block;
    };
    auto cpu = make(), gpu = make();
    gpu->to(kGpu);
    Tensor x = random_tensor({8, 16, 12, 12}, 6).to(DType::bf16);
    Tensor dy = random_tensor({8, 32, 6, 6}, 7).to(DType::bf16);
    Tensor yc = cpu->forward(x), yg = gpu->forward(x.to(kGpu));
    EXPECT_EQ(yg.dtype(), DType::bf16);
    EXPECT_EQ(yc.dtype(), DType::bf16);
    EXPECT_TRUE(all_close(yg, yc, 2e-2, 2e-2)) << "forward";
    Tensor dxc = cpu->backward(dy), dxg = gpu->backward(dy.to(kGpu));
    EXPECT_EQ(dxg.dtype(), DType::bf16);
    EXPECT_TRUE(all_close(dxg, dxc, 2e-2, 2e-2)) << "dx";
    auto pc = cpu->parameters(), pg = gpu->parameters();
    for (size_t i = 0; i < pc.size(); ++i)
      EXPECT_TRUE(all_close(pg[i]->grad, pc[i]->grad, 5e-2, 2e-2)) << pc[i]->name;
  }
}

}  // namespace
}  // namespace minidl
