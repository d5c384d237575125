// Tensor views and copies on the CPU: reshape, narrow, permute, channels-last, contiguous, clone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/fill.h"
#include "core/tensor.h"
#include "tests/testing.h"

namespace minidl {
namespace {

Tensor iota(const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  std::iota(v.begin(), v.end(), 0.f);
  return Tensor::from_vector(v, shape);
}

TEST(Tensor, EmptyHasContiguousStridesAndAlignedData) {
  Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 64, 0u);
  EXPECT_EQ(t.str(), "Tensor[f32, cpu, [2, 3, 4]]");
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, FullAndZeros) {
  EXPECT_EQ(Tensor::full({3}, 2.5).to_vector<float>(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(Tensor::zeros({2}, DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(Tensor::full({2}, 7, DType::u8).to_vector<uint8_t>(), (std::vector<uint8_t>{7, 7}));
}

TEST(Tensor, ReshapeSharesStorageAndInfers) {
  Tensor t = iota({2, 6});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.storage(), t.storage());
  EXPECT_EQ(r.at<float>({2, 1}), 9.f);
  EXPECT_MINIDL_ERROR(t.reshape({5, -1}), "reshape", "[2, 6]");
  EXPECT_MINIDL_ERROR(t.reshape({-1, -1}), "more than one -1");
}

TEST(Tensor, NarrowIsAViewWithOffset) {
  Tensor t = iota({4, 3});
  Tensor n = t.narrow(0, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 3}));
  EXPECT_EQ(n.offset(), 3);
  EXPECT_TRUE(n.is_contiguous());
  EXPECT_EQ(n.to_vector<float>(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  Tensor c = t.narrow(1, 1, 1);  // a column: strided
  EXPECT_FALSE(c.is_contiguous());
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1, 4, 7, 10}));
  EXPECT_MINIDL_ERROR(t.narrow(0, 3, 2), "narrow", "out of range");
}

TEST(Tensor, PermuteAndContiguous) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.at<float>({3, 1, 2}), t.at<float>({1, 2, 3}));
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), t.storage());
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(c.at<float>({a, b, d}), t.at<float>({b, d, a}));
  // reshape of a non-contiguous view copies
  EXPECT_EQ(p.reshape({24}).to_vector<float>(), c.to_vector<float>());
  EXPECT_MINIDL_ERROR(p.view({24}), "non-contiguous");
  EXPECT_MINIDL_ERROR(t.permute({0, 0, 1}), "repeated");
}

TEST(Tensor, ChannelsLastKeepsLogicalShape) {
  Tensor t = iota({2, 3, 4, 5});
  Tensor cl = t.contiguous(MemoryFormat::channels_last);
  EXPECT_EQ(cl.shape(), t.shape());
  EXPECT_EQ(cl.strides(), (Shape{60, 1, 15, 3}));
  EXPECT_TRUE(cl.is_contiguous(MemoryFormat::channels_last));
  EXPECT_FALSE(cl.is_contiguous());
  EXPECT_EQ(cl.at<float>({1, 2, 3, 4}), t.at<float>({1, 2, 3, 4}));
  EXPECT_EQ(cl.contiguous().to_vector<float>(), t.to_vector<float>());
  // The same data as an NHWC tensor: permute the logical view.
  Tensor nhwc = cl.permute({0, 2, 3, 1});
  EXPECT_TRUE(nhwc.is_contiguous());
}

// to() and clone() keep channels-last (issue 13: a channels-last tensor moved to the GPU came back
// NCHW, and the channels-last twin checks threw before comparing anything).
TEST(Tensor, ToAndCloneKeepTheMemoryFormat) {
  Tensor cl = iota({2, 3, 4, 5}).contiguous(MemoryFormat::channels_last);
  EXPECT_EQ(cl.memory_format(), MemoryFormat::channels_last);
  for (const Tensor& t : {cl.clone(), cl.to(DType::f64), cl.to(DType::f64).to(DType::f32)}) {
    EXPECT_TRUE(t.is_contiguous(MemoryFormat::channels_last));
    EXPECT_EQ(t.strides(), cl.strides());
    EXPECT_EQ(t.contiguous().to_vector<float>(), cl.contiguous().to_vector<float>());
  }
  EXPECT_EQ(iota({2, 3, 4, 5}).to(DType::f64).memory_format(), MemoryFormat::contiguous);
  // Tensors that are both (C == 1) or neither (a narrowed view) come out NCHW-contiguous.
  EXPECT_EQ(iota({2, 1, 4, 5}).contiguous(MemoryFormat::channels_last).memory_format(),
            MemoryFormat::contiguous);
  Tensor part = cl.narrow(3, 1, 2);
  EXPECT_EQ(part.memory_format(), MemoryFormat::contiguous);
  EXPECT_TRUE(part.to(DType::f64).is_contiguous());
}

// Floating -> integer conversions saturate, NaN -> 0, on the host as the CUDA twin does (issue 13:
// the host wrapped -5 -> 251 while the device clamped). Integer narrowing still wraps.
TEST(DType, FloatToIntegerSaturatesAndNanIsZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Through a volatile, so the compiler converts at run time (it folds constants its own way).
  auto cast = [](auto v) {
    volatile decltype(v) at_run_time = v;
    return at_run_time;
  };
  EXPECT_EQ(cast_value<uint8_t>(cast(-5.f)), 0);
  EXPECT_EQ(cast_value<uint8_t>(cast(300.f)), 255);
  EXPECT_EQ(cast_value<uint8_t>(cast(255.9f)), 255);
  EXPECT_EQ(cast_value<uint8_t>(cast(-0.9f)), 0);
  EXPECT_EQ(cast_value<uint8_t>(cast(7.99f)), 7);
  EXPECT_EQ(cast_value<uint8_t>(cast(nan)), 0);
  EXPECT_EQ(cast_value<uint8_t>(cast(1e300)), 255);
  EXPECT_EQ(cast_value<int32_t>(cast(3e9f)), INT32_MAX);
  EXPECT_EQ(cast_value<int32_t>(cast(-3e9f)), INT32_MIN);
  EXPECT_EQ(cast_value<int32_t>(cast(2147483520.f)), 2147483520);  // the largest float below 2^31
  EXPECT_EQ(cast_value<int32_t>(cast(2147483647.0)), INT32_MAX);
  EXPECT_EQ(cast_value<int32_t>(cast(-7.5f)), -7);
  EXPECT_EQ(cast_value<int64_t>(cast(1e19f)), INT64_MAX);
  EXPECT_EQ(cast_value<int64_t>(cast(-1e19)), INT64_MIN);
  EXPECT_EQ(cast_value<int64_t>(cast(-std::numeric_limits<float>::infinity())), INT64_MIN);
  EXPECT_EQ(cast_value<int32_t>(cast(nan)), 0);
  EXPECT_EQ(cast_value<uint8_t>(to_bf16(cast(-5.f))), 0);
  EXPECT_EQ(cast_value<uint8_t>(cast(int32_t{-5})), 251);  // integer narrowing wraps, as in C++
  // The copy and fill kernels convert the same way.
  Tensor x = testing::random_tensor({1000}, 3, -300.f, 300.f);
  x.data<float>()[0] = nan;
  std::vector<uint8_t> want;
  for (float v : x.to_vector<float>())
    want.push_back(v != v ? 0 : static_cast<uint8_t>(std::clamp(std::trunc(v), 0.f, 255.f)));
  EXPECT_EQ(x.to(DType::u8).to_vector<uint8_t>(), want);
  EXPECT_EQ(Tensor::full({3}, 300.0, DType::u8).to_vector<uint8_t>(), std::vector<uint8_t>(3, 255));
}

TEST(Tensor, CloneIsDeepAndCopyConverts) {
  Tensor t = iota({3});
  Tensor c = t.clone();
  fill(c, 1.0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 2}));
  Tensor i = Tensor::empty({3}, DType::i32);
  i.copy_(t);
  EXPECT_EQ(i.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_MINIDL_ERROR(i.copy_(iota({4})), "copy", "shape mismatch", "[3]", "[4]");
}

TEST(Tensor, DataChecksDtypeAndAtChecksRange) {
  Tensor t = iota({2, 2});
  EXPECT_MINIDL_ERROR(t.data<int32_t>(), "i32", "f32");
  EXPECT_MINIDL_ERROR(t.at<float>({2, 0}), "out of range");
  EXPECT_MINIDL_ERROR(t.item<float>(), "item");
  EXPECT_MINIDL_ERROR(Tensor::empty({2, -1}), "negative dimension");
}

TEST(Tensor, CudaTensorWithoutGpuIsAClearError) {
  if (testing::has_gpu()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_MINIDL_ERROR(Tensor::empty({2}, DType::f32, Device::cuda(0)), "cuda:0", "0 CUDA device");
}

TEST(Device, ParseAndCount) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  EXPECT_MINIDL_ERROR(parse_device("tpu"), "unknown device 'tpu'");
  EXPECT_MINIDL_ERROR(parse_device("cuda:x"), "unknown device");
  EXPECT_GE(cuda_device_count(), 0);  // never throws: a failed query means zero devices
  // Without a GPU the reason is kept and named where a CUDA device is asked for.
  if (cuda_device_count() == 0) {
    std::string why = cuda_unavailable_reason();
    EXPECT_FALSE(why.empty());
    EXPECT_MINIDL_ERROR(check_device_available(Device::cuda(0)), "0 CUDA device", why);
  } else {
    EXPECT_EQ(cuda_unavailable_reason(), "");
  }
}

}  // namespace
}  // namespace minidl
