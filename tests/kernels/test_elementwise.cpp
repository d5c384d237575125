// Element-wise ops on the CPU against plain loops, including per-channel broadcasting (NCHW and
// channels-last) and the argument errors.
#include <gtest/gtest.h>

#include "kernels/elementwise.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

TEST(Elementwise, BinarySameShape) {
  Tensor a = random_tensor({3, 5}, 1), b = random_tensor({3, 5}, 2);
  Tensor out = Tensor::empty({3, 5});
  std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  add(a, b, out);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(out.to_vector<float>()[i], va[i] + vb[i]);
  sub(a, b, out);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(out.to_vector<float>()[i], va[i] - vb[i]);
  mul(a, b, out);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(out.to_vector<float>()[i], va[i] * vb[i]);
}

TEST(Elementwise, PerChannelBroadcastNCHW) {
  Tensor a = random_tensor({2, 3, 4, 5}, 3), bias = random_tensor({3}, 4);
  Tensor out = Tensor::empty({2, 3, 4, 5});
  add(a, bias, out);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w)
          EXPECT_EQ(out.at<float>({n, c, h, w}), a.at<float>({n, c, h, w}) + bias.at<float>({c}));
}

TEST(Elementwise, PerChannelBroadcastChannelsLast) {
  Tensor a = random_tensor({2, 3, 4, 5}, 5).contiguous(MemoryFormat::channels_last);
  Tensor scale_c = random_tensor({3}, 6);
  Tensor out = Tensor::empty({2, 3, 4, 5}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  mul(a, scale_c, out);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w)
          EXPECT_EQ(out.at<float>({n, c, h, w}),
                    a.at<float>({n, c, h, w}) * scale_c.at<float>({c}));
}

TEST(Elementwise, ScalarBroadcastAndInPlace) {
  Tensor a = random_tensor({7}, 7);
  std::vector<float> va = a.to_vector<float>();
  add(a, Tensor::full({1}, 2.0), a);  // in place
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(a.to_vector<float>()[i], va[i] + 2.0f);
}

TEST(Elementwise, AxpyScaleRelu) {
  Tensor x = random_tensor({1000}, 8), y = random_tensor({1000}, 9);
  std::vector<float> vx = x.to_vector<float>(), vy = y.to_vector<float>();
  axpy(0.5f, x, y);
  std::vector<float> r = y.to_vector<float>();
  for (size_t i = 0; i < vx.size(); ++i) EXPECT_EQ(r[i], 0.5f * vx[i] + vy[i]);
  Tensor s = Tensor::empty({1000});
  scale(-3.f, x, s);
  for (size_t i = 0; i < vx.size(); ++i) EXPECT_EQ(s.to_vector<float>()[i], -3.f * vx[i]);
  Tensor relu_y = Tensor::empty({1000}), dx = Tensor::empty({1000});
  relu_forward(x, relu_y);
  Tensor dy = random_tensor({1000}, 10);
  relu_backward(relu_y, dy, dx);
  std::vector<float> vr = relu_y.to_vector<float>(), vdx = dx.to_vector<float>(),
                     vdy = dy.to_vector<float>();
  for (size_t i = 0; i < vx.size(); ++i) {
    EXPECT_EQ(vr[i], vx[i] > 0 ? vx[i] : 0.f);
    EXPECT_EQ(vdx[i], vx[i] > 0 ? vdy[i] : 0.f);
  }
}

TEST(Elementwise, BadArgumentsNameTheOpAndShapes) {
  Tensor a = random_tensor({2, 3}, 1);
  EXPECT_MINIDL_ERROR(add(a, random_tensor({3, 2}, 2), Tensor::empty({2, 3})), "add",
                      "cannot broadcast", "[3, 2]", "[2, 3]");
  EXPECT_MINIDL_ERROR(add(a, a, Tensor::empty({2, 4})), "add", "shape mismatch", "[2, 3]",
                      "[2, 4]");
  EXPECT_MINIDL_ERROR(
      relu_forward(Tensor::empty({2, 3}, DType::i32), Tensor::empty({2, 3}, DType::i32)),
      "relu_forward", "dtype i32", "expected f32");
  EXPECT_MINIDL_ERROR(scale(1.f, a.permute({1, 0}), Tensor::empty({3, 2})), "scale", "dense");
  EXPECT_MINIDL_ERROR(axpy(1.f, Tensor(), a), "axpy", "undefined");
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

TEST(Elementwise, DoublePrecisionForGradientChecks) {
  Tensor a = testing::random_tensor({2, 3, 4}, 20).to(DType::f64);
  Tensor c = testing::random_tensor({3}, 21).to(DType::f64);
  Tensor out = Tensor::empty(a.shape(), DType::f64);
  mul(a, c, out);
  EXPECT_EQ(out.at<double>({1, 2, 3}), a.at<double>({1, 2, 3}) * c.at<double>({2}));
  axpy(0.1, a, out);
  EXPECT_EQ(out.at<double>({0, 1, 0}),
            0.1 * a.at<double>({0, 1, 0}) + a.at<double>({0, 1, 0}) * c.at<double>({1}));
  EXPECT_MINIDL_ERROR(add(a, c.to(DType::f32), out), "add", "dtype f32", "expected f64");
}

}  // namespace
}  // namespace minidl
