// The option-A shortcut's CUDA twin (one thread per element, the header's element functions)
// against the CPU twin (strided plane and row copies), forward and backward, bit for bit: both only
// copy values and write zeros. Both layouts, strides 1-3, zero channels in front or behind.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include "kernels/subsample_pad_channels.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::bytes_of;

const Device kGpu = Device::cuda(0);

TEST(CudaTwin, SubsamplePadChannelsIsBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  struct Case {
    int64_t cx, cy, stride, front, h, w;
  };
  for (Case k : {Case{3, 8, 2, 2, 9, 7}, Case{4, 4, 1, 0, 5, 6}, Case{2, 7, 3, 4, 10, 11},
                 Case{16, 32, 2, 8, 28, 28}})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << k.cx << " -> " << k.cy << " stride " << k.stride
                                        << " front " << k.front << (cl ? " NHWC" : ""));
      MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
      const int64_t oh = (k.h + k.stride - 1) / k.stride, ow = (k.w + k.stride - 1) / k.stride;
      Tensor x = testing::random_tensor({3, k.cx, k.h, k.w}, 8).contiguous(f);
      Tensor dy = testing::random_tensor({3, k.cy, oh, ow}, 9).contiguous(f);
      Tensor y = Tensor::empty(dy.shape(), DType::f32, Device::cpu(), f);
      Tensor yg = Tensor::empty(dy.shape(), DType::f32, kGpu, f);
      Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f);
      Tensor dxg = Tensor::empty(x.shape(), DType::f32, kGpu, f);
      subsample_pad_channels_forward(x, y, k.stride, k.front);
      subsample_pad_channels_forward(x.to(kGpu).contiguous(f), yg, k.stride, k.front);
      EXPECT_TRUE(bytes_of(yg) == bytes_of(y)) << "forward";
      subsample_pad_channels_backward(dy, dx, k.stride, k.front);
      subsample_pad_channels_backward(dy.to(kGpu).contiguous(f), dxg, k.stride, k.front);
      EXPECT_TRUE(bytes_of(dxg) == bytes_of(dx)) << "backward";
    }
}

}  // namespace
}  // namespace minidl
