// round_to_precision's CUDA twin against the CPU twin, bit for bit (the same integer bit
// manipulation), with signed zeros, infinities, NaNs, and values in f16's overflow and subnormal
// ranges; in place and out of place, both layouts. Skipped without a GPU.
#include <gtest/gtest.h>

#include "kernels/precision.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::bytes_of;

TEST(CudaTwin, RoundToPrecisionIsBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor x = testing::tensor_with_specials({3, 40, 33, 17}, 1);
  for (int64_t i = 0; i < x.numel(); i += 3) x.data<float>()[i] *= (i % 2 ? 3e4f : 1e-6f);
  for (DType p : {DType::bf16, DType::f16})
    for (bool cl : {false, true}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(p) << (cl ? " NHWC" : ""));
      MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
      Tensor xc = x.contiguous(f);
      Tensor want = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f);
      round_to_precision(xc, p, want);
      Tensor xg = xc.to(Device::cuda(0));
      Tensor got = Tensor::empty(x.shape(), DType::f32, Device::cuda(0), f);
      round_to_precision(xg, p, got);
      EXPECT_EQ(bytes_of(got.to(Device::cpu())), bytes_of(want));
      round_to_precision(xg, p, xg);
      EXPECT_EQ(bytes_of(xg.to(Device::cpu())), bytes_of(want)) << "in place";
    }
}

}  // namespace
}  // namespace minidl
