// Tensor views and copies on the CPU: reshape, narrow, permute, channels-last, contiguous, clone.
#include <gtest/gtest.h>

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
}

}  // namespace
}  // namespace minidl
