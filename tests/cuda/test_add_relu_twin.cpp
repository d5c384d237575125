// The fused residual add + ReLU's CUDA twin against the CPU twin, bit for bit (the same element
// math; no multiply-add to fuse): forward (also into a's buffer) and backward (also into y's), with
// signed zeros, infinities, NaNs and sums that cancel; both layouts, f32 and f64. Then a Residual
// block (identity and option-A shortcuts) on both devices with its outputs released, so that
// backward reuses their buffers, within test_layer_twins.cpp's block tolerance (atol 1e-4, rtol
// 1e-3), which the convolutions need. Skipped without a GPU.
#include <gtest/gtest.h>


#include "kernels/add_relu.h"
#include "kernels/conv.h"
#include "layers/layers.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::bytes_of;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

// [3, 40, 33, 17] with special values (testing.h); with `cancel`, some sums are exactly zero.
Tensor operand(uint32_t seed, const Tensor* cancel = nullptr) {
  return testing::tensor_with_specials({3, 40, 33, 17}, seed, cancel);
}

TEST(CudaTwin, AddReluIsBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::f64})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(dt) << (cl ? " NHWC" : ""));
      MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
      Tensor a0 = operand(1);
      Tensor a = a0.to(dt).contiguous(f), b = operand(2, &a0).to(dt).contiguous(f);
      Tensor dy = operand(3).to(dt).contiguous(f);
      Tensor ag = a.to(kGpu).contiguous(f), bg = b.to(kGpu).contiguous(f);
      Tensor dyg = dy.to(kGpu).contiguous(f);
      Tensor y = Tensor::empty(a.shape(), dt, Device::cpu(), f), g = y.clone().contiguous(f);
      add_relu_forward(a, b, y);
      add_relu_backward(y, dy, g);
      Tensor yg = Tensor::empty(a.shape(), dt, kGpu, f), gg = Tensor::empty(a.shape(), dt, kGpu, f);
      add_relu_forward(ag, bg, yg);
      EXPECT_TRUE(bytes_of(yg) == bytes_of(y)) << "forward";
      add_relu_backward(yg, dyg, gg);
      EXPECT_TRUE(bytes_of(gg) == bytes_of(g)) << "backward";
      add_relu_forward(ag, bg, ag);  // in place, as Residual does
      EXPECT_TRUE(bytes_of(ag) == bytes_of(y)) << "forward into a";
      add_relu_backward(yg, dyg, yg);
      EXPECT_TRUE(bytes_of(yg) == bytes_of(g)) << "backward into y";
    }
}

TEST(CudaTwin, ResidualBlockWithFusedAddRelu) {
  MINIDL_SKIP_WITHOUT_GPU();
  set_conv_allow_tf32(false);  // FMA-only cuDNN kernels: close to the CPU (test_layer_twins.cpp)
  for (bool option_a : {false, true}) {
    SCOPED_TRACE(option_a ? "option A" : "identity");
    const int64_t in = option_a ? 8 : 16, stride = option_a ? 2 : 1;
    auto make = [&] {
      auto b = std::make_shared<Residual>();
      b->add("conv1", std::make_shared<Conv2d>(in, 16, 3, stride, 1, false))
          .add("bn1", std::make_shared<BatchNorm2d>(16))
          .add("relu", std::make_shared<ReLU>(true))
          .add("conv2", std::make_shared<Conv2d>(16, 16, 3, 1, 1, false))
          .add("bn2", std::make_shared<BatchNorm2d>(16));
      if (option_a) b->shortcut("downsample", std::make_shared<ZeroPadShortcut>(in, 16, 2, 4));
      return b;
    };
    manual_seed(7);
    auto cpu = make();
    manual_seed(7);
    auto gpu = make();
    gpu->load_state_dict(cpu->state_dict());
    gpu->to(kGpu);
    Tensor x = random_tensor({4, in, 10, 10}, 8);
    Tensor y = cpu->forward(x), yg = gpu->forward(x.to(kGpu));
    EXPECT_TRUE(all_close(yg, y, 1e-4, 1e-3)) << "y";
    Tensor dy = random_tensor(y.shape(), 9);
    y = yg = Tensor();  // release the outputs: backward writes g into their buffers
    EXPECT_TRUE(all_close(gpu->backward(dy.to(kGpu)), cpu->backward(dy), 1e-4, 1e-3)) << "dx";
  }
  set_conv_allow_tf32(true);
}

}  // namespace
}  // namespace minidl
