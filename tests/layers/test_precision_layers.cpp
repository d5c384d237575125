// Conv2d and Linear computing in bf16 (Module::set_compute_precision): forward and backward equal,
// bit for bit, the f32 kernels run on operands rounded to bf16 with each result rounded (the
// definition, docs/precision.md); the weight and bias gradients are added to what the gradients
// already hold; results stay within bf16's precision of f32; f64 (the gradient checks) is never
// rounded, so a bf16 model still passes them; containers pass the precision down. PyTorch's own
// bf16 autocast is the outside value (tests/reference/test_precision_reference.cpp).
#include <gtest/gtest.h>

#include <cstring>

#include "kernels/conv.h"
#include "kernels/precision.h"
#include "layers/layers.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::random_tensor;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

Tensor bf16(const Tensor& x) {
  return rounded_to(x, DType::bf16);
}

TEST(PrecisionLayers, Conv2dInBf16IsTheF32KernelOnRoundedOperands) {
  Conv2d conv(Conv2dOptions(3, 5, 3).padding(1).bias(true));
  conv.set_compute_precision(DType::bf16);
  EXPECT_EQ(conv.compute_precision(), DType::bf16);
  Tensor x = random_tensor({4, 3, 9, 9}, 1), dy = random_tensor({4, 5, 9, 9}, 2);
  Tensor w = conv.weight()->value, b = conv.bias()->value;
  const ConvParams p = conv.options().p_;

  Tensor y = conv.forward(x);
  Tensor want = Tensor::empty(y.shape());
  conv2d_forward(bf16(x), bf16(w), bf16(b), want, p);
  EXPECT_TRUE(same_bits(y, bf16(want))) << "forward";

  // The gradients already hold something: backward adds the rounded gradient to it.
  Tensor gw0 = random_tensor(w.shape(), 3), gb0 = random_tensor(b.shape(), 4);
  conv.weight()->grad.copy_(gw0);
  conv.bias()->grad.copy_(gb0);
  Tensor dx = conv.backward(dy);
  Tensor dx_want = Tensor::empty(x.shape()), dw = Tensor::zeros(w.shape()),
         db = Tensor::zeros(b.shape());
  conv2d_backward(bf16(x), bf16(w), bf16(dy), dx_want, dw, db, p);
  EXPECT_TRUE(same_bits(dx, bf16(dx_want))) << "dx";
  Tensor gw = gw0.clone(), gb = gb0.clone();
  axpy(1.0, bf16(dw), gw);
  axpy(1.0, bf16(db), gb);
  EXPECT_TRUE(same_bits(conv.weight()->grad, gw)) << "dw";
  EXPECT_TRUE(same_bits(conv.bias()->grad, gb)) << "db";

  // Within bf16's precision of the f32 layer (8 significant bits: relative 2^-8 per rounding).
  Conv2d ref(Conv2dOptions(3, 5, 3).padding(1).bias(true));
  ref.weight()->value.copy_(w);
  ref.bias()->value.copy_(b);
  EXPECT_TRUE(all_close(y, ref.forward(x), 0.03, 0.03));
  EXPECT_FALSE(same_bits(y, ref.forward(x))) << "bf16 must differ from f32 somewhere";
}

// Without a bias the layer runs the 16-bit convolution (kernels/conv.h) on 16-bit copies of x and
// w: the same bits as the rounding in f32 storage, in both layouts, bf16 and f16.
TEST(PrecisionLayers, Conv2dWithoutBiasRunsThe16BitKernelWithTheSameBits) {
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " channels-last" : ""));
      Conv2d conv(Conv2dOptions(4, 6, 3).stride(2).padding(1).bias(false));
      conv.set_compute_precision(p);
      if (cl) conv.set_memory_format(MemoryFormat::channels_last);
      const MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
      Tensor x = random_tensor({3, 4, 11, 11}, 9), dy = random_tensor({3, 6, 6, 6}, 10);
      Tensor w = conv.weight()->value;
      const ConvParams pr = conv.options().p_;

      Tensor y = conv.forward(x);
      EXPECT_EQ(y.dtype(), p);  // a 16-bit activation for the layers after it
      EXPECT_TRUE(y.is_contiguous(f));
      Tensor want = Tensor::empty(y.shape(), DType::f32, Device::cpu(), f);
      conv2d_forward(rounded_to(x.contiguous(f), p), rounded_to(w, p), Tensor(), want, pr);
      round_to_precision(want, p, want);
      EXPECT_TRUE(same_bits(y.to(DType::f32), want)) << "forward";

      Tensor gw0 = random_tensor(w.shape(), 11);
      conv.weight()->grad.copy_(gw0);
      Tensor dx = conv.backward(dy);  // an f32 dy is taken too
      EXPECT_EQ(dx.dtype(), DType::f32);  // x's dtype
      Tensor dx_want = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f),
             dw = Tensor::zeros(w.shape());
      conv2d_backward(rounded_to(x.contiguous(f), p), rounded_to(w, p),
                      rounded_to(dy.contiguous(f), p), dx_want, dw, Tensor(), pr);
      round_to_precision(dx_want, p, dx_want);
      EXPECT_TRUE(same_bits(dx, dx_want)) << "dx";
      Tensor gw = gw0.clone();
      axpy(1.0, rounded_to(dw, p), gw);
      EXPECT_TRUE(same_bits(conv.weight()->grad, gw)) << "dw";
    }
}

TEST(PrecisionLayers, LinearInBf16IsTheF32KernelOnRoundedOperands) {
  Linear fc(20, 7);
  fc.set_compute_precision(DType::bf16);
  Tensor x = random_tensor({6, 20}, 5), dy = random_tensor({6, 7}, 6);
  Tensor w = fc.weight()->value, b = fc.bias()->value;
  Linear exact(20, 7);  // f32, fed the rounded operands by hand
  exact.weight()->value.copy_(bf16(w));
  exact.bias()->value.copy_(bf16(b));

  Tensor y = fc.forward(x);
  EXPECT_TRUE(same_bits(y, bf16(exact.forward(bf16(x))))) << "forward";
  Tensor gw0 = random_tensor(w.shape(), 7), gb0 = random_tensor(b.shape(), 8);
  fc.weight()->grad.copy_(gw0);
  fc.bias()->grad.copy_(gb0);
  Tensor dx = fc.backward(dy);
  exact.zero_grad();
  Tensor dx_want = exact.backward(bf16(dy));
  EXPECT_TRUE(same_bits(dx, bf16(dx_want))) << "dx";
  Tensor gw = gw0.clone(), gb = gb0.clone();
  axpy(1.0, bf16(exact.weight()->grad), gw);
  axpy(1.0, bf16(exact.bias()->grad), gb);
  EXPECT_TRUE(same_bits(fc.weight()->grad, gw)) << "dw";
  EXPECT_TRUE(same_bits(fc.bias()->grad, gb)) << "db";
}

TEST(PrecisionLayers, ContainersPassThePrecisionDownAndF64IsNeverRounded) {
  Sequential net;
  net.add(std::make_shared<Conv2d>(3, 4, 3, 1, 1));
  net.add(std::make_shared<ReLU>());
  net.add(std::make_shared<Flatten>());
  net.add(std::make_shared<Linear>(4 * 5 * 5, 3));
  net.set_compute_precision(DType::bf16);
  net.visit([](Module& m) { EXPECT_EQ(m.compute_precision(), DType::bf16) << m.where(); });
  // The gradient checks run in f64 on a bf16 model: nothing is rounded, so they pass.
  net.to(DType::f64);
  EXPECT_TRUE(testing::check_gradients(net, testing::random_double({2, 3, 5, 5}, 7)));
  EXPECT_MINIDL_ERROR(net.set_compute_precision(DType::i32), "compute precision i32");
}

}  // namespace
}  // namespace minidl
