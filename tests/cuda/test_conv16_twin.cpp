// The 16-bit convolution's CUDA twin (cuDNN, bf16 / f16 tensors, f32 compute on tensor cores)
// against the CPU twin: y, dx and dw (added to what it held), NCHW and channels-last. Both round an
// f32 sum once; the sums run in other orders, so a value may land one 16-bit unit apart, and
// further only where the sum cancels (the unit is then small next to f32's summation error): the
// tolerance is one unit at the value plus 2^-16 of the largest result. Then a bf16 ResNet block
// (Conv2d without bias, batch norm, ReLU) on the GPU against the CPU. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/conv.h"
#include "layers/layers.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

const Device kGpu = Device::cuda(0);

::testing::AssertionResult within_a_unit(const Tensor& got, const Tensor& want, DType p) {
  Tensor g = got.to(Device::cpu()).to(DType::f64).contiguous();
  Tensor w = want.to(Device::cpu()).to(DType::f64).contiguous();
  const int bits = p == DType::bf16 ? 8 : 11;
  double largest = 0;
  for (int64_t i = 0; i < w.numel(); ++i)
    largest = std::max(largest, std::fabs(w.data<double>()[i]));
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const double a = g.data<double>()[i], b = w.data<double>()[i];
    int e = 0;
    std::frexp(std::max(std::fabs(a), std::fabs(b)), &e);
    if (std::fabs(a - b) > std::ldexp(1.0, e - bits) + std::ldexp(largest, -16)) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << w.numel() << " values apart; first at " << first << ": "
         << g.data<double>()[first] << " vs " << w.data<double>()[first];
}

TEST(CudaTwin, Conv16IsTheCpuTwinWithinAUnit) {
  MINIDL_SKIP_WITHOUT_GPU();
  struct Case {
    Shape x;
    int64_t O, K, stride, pad;
  };
  const Case cases[] = {{{8, 16, 16, 16}, 32, 3, 1, 1},
                        {{4, 32, 15, 15}, 64, 3, 2, 1},
                        {{4, 64, 8, 8}, 128, 1, 2, 0},
                        {{2, 3, 32, 32}, 16, 3, 1, 1}};
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true})
      for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " NHWC " : " NCHW ")
                                          << shape_str(c.x) << " k" << c.K << " s" << c.stride);
        const MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        ConvParams pr;
        pr.stride_h = pr.stride_w = c.stride;
        pr.pad_h = pr.pad_w = c.pad;
        const int64_t oh = conv_output_size(c.x[2], c.K, c.stride, c.pad, 1),
                      ow = conv_output_size(c.x[3], c.K, c.stride, c.pad, 1);
        const Shape ys{c.x[0], c.O, oh, ow}, ws{c.O, c.x[1], c.K, c.K};
        Tensor x = random_tensor(c.x, 1).contiguous(f).to(p), w = random_tensor(ws, 2).to(p);
        Tensor dy = random_tensor(ys, 3).contiguous(f).to(p), dw0 = random_tensor(ws, 4).to(p);

        Tensor y = Tensor::empty(ys, p, Device::cpu(), f);
        conv2d_forward(x, w, Tensor(), y, pr);
        Tensor dx = Tensor::empty(c.x, p, Device::cpu(), f), dw = dw0.clone();
        conv2d_backward(x, w, dy, dx, dw, Tensor(), pr);

        Tensor xg = x.to(kGpu), wg = w.to(kGpu), dyg = dy.to(kGpu);
        Tensor yg = Tensor::empty(ys, p, kGpu, f);
        conv2d_forward(xg, wg, Tensor(), yg, pr);
        Tensor dxg = Tensor::empty(c.x, p, kGpu, f), dwg = dw0.to(kGpu);
        conv2d_backward(xg, wg, dyg, dxg, dwg, Tensor(), pr);

        EXPECT_TRUE(within_a_unit(yg, y, p)) << "y";
        EXPECT_TRUE(within_a_unit(dxg, dx, p)) << "dx";
        EXPECT_TRUE(within_a_unit(dwg, dw, p)) << "dw";
        EXPECT_TRUE(yg.is_contiguous(f) && dxg.is_contiguous(f));
      }
}

TEST(CudaTwin, Bf16ConvBnReluBlockMatchesTheCpu) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (bool cl : {false, true}) {
    SCOPED_TRACE(cl ? "channels-last" : "NCHW");
    auto make = [&] {
      manual_seed(3);
      auto net = std::make_shared<Sequential>();
      net->add(std::make_shared<Conv2d>(16, 32, 3, 1, 1, false));
      net->add(std::make_shared<BatchNorm2d>(32));
      net->add(std::make_shared<ReLU>());
      net->set_compute_precision(DType::bf16);
      if (cl) net->set_memory_format(MemoryFormat::channels_last);
      return net;
    };
    auto cpu = make(), gpu = make();
    gpu->to(kGpu);
    Tensor x = random_tensor({8, 16, 12, 12}, 5), dy = random_tensor({8, 32, 12, 12}, 6);
    Tensor yc = cpu->forward(x), yg = gpu->forward(x.to(kGpu));
    // BN normalises the 16-bit outputs: a unit apart before it is 2^-8 of a standard deviation.
    EXPECT_TRUE(testing::all_close(yg, yc, 2e-2, 2e-2)) << "forward";
    Tensor dxc = cpu->backward(dy), dxg = gpu->backward(dy.to(kGpu));
    EXPECT_TRUE(testing::all_close(dxg, dxc, 2e-2, 2e-2)) << "dx";
  }
}

}  // namespace
}  // namespace minidl
