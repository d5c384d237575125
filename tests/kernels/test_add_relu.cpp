// The fused residual add + ReLU against the unfused ops it replaces (add, then relu_forward;
// relu_backward), bit for bit: special values (signed zeros, infinities, NaN, sums that round to
// zero), in place, both layouts, f32 and f64, 1 and 2 threads; and the argument errors.
#include <gtest/gtest.h>

#include <cstring>

#include "core/parallel.h"
#include "kernels/add_relu.h"
#include "tests/testing.h"

namespace minidl {
namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

// 3 x 40 x 33 x 17 (over one parallel grain), with special values (testing.h); with `cancel`,
// some sums are exactly zero.
Tensor operand(uint32_t seed, const Tensor* cancel = nullptr) {
  return testing::tensor_with_specials({3, 40, 33, 17}, seed, cancel);
}

TEST(AddRelu, ForwardAndBackwardEqualTheUnfusedOpsBitForBit) {
  const int saved_threads = num_threads();
  for (DType dt : {DType::f32, DType::f64})
    for (bool cl : {false, true})
      for (int threads : {1, 2}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(dt) << (cl ? " NHWC" : "") << " threads " << threads);
        set_num_threads(threads);
        MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        Tensor a0 = operand(1);
        Tensor a = a0.to(dt).contiguous(f), b = operand(2, &a0).to(dt).contiguous(f);
        Tensor ref = Tensor::empty(a.shape(), dt, Device::cpu(), f);
        add(a, b, ref);
        relu_forward(ref, ref);
        Tensor y = Tensor::empty(a.shape(), dt, Device::cpu(), f);
        add_relu_forward(a, b, y);
        EXPECT_TRUE(same_bits(y, ref)) << "forward";
        Tensor in_place = a.clone().contiguous(f);
        add_relu_forward(in_place, b, in_place);
        EXPECT_TRUE(same_bits(in_place, ref)) << "forward into a";

        Tensor dy = operand(3).to(dt).contiguous(f);
        Tensor g_ref = Tensor::empty(a.shape(), dt, Device::cpu(), f);
        relu_backward(y, dy, g_ref);
        Tensor g = Tensor::empty(a.shape(), dt, Device::cpu(), f);
        add_relu_backward(y, dy, g);
        EXPECT_TRUE(same_bits(g, g_ref)) << "backward";
        add_relu_backward(y, dy, y);  // into y's buffer, as Residual does
        EXPECT_TRUE(same_bits(y, g_ref)) << "backward into y";
      }
  set_num_threads(saved_threads);
}

TEST(AddRelu, ArgumentErrors) {
  Tensor a = Tensor::zeros({2, 3, 4, 5});
  EXPECT_MINIDL_ERROR(add_relu_forward(a, Tensor::zeros({2, 3, 4, 4}), a), "add_relu_forward",
                      "shape");
  EXPECT_MINIDL_ERROR(add_relu_forward(a, a.contiguous(MemoryFormat::channels_last), a),
                      "add_relu_forward", "laid out differently");
  EXPECT_MINIDL_ERROR(add_relu_forward(a, Tensor::zeros(a.shape(), DType::f64), a),
                      "add_relu_forward", "dtype");
  EXPECT_MINIDL_ERROR(add_relu_backward(a, Tensor(), a), "add_relu_backward", "undefined");
  EXPECT_MINIDL_ERROR(add_relu_backward(Tensor::zeros({2, 3}, DType::i32), a, a),
                      "add_relu_backward", "expected f32, f64, bf16 or f16");
}

}  // namespace
}  // namespace minidl
