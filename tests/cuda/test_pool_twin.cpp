// Max pooling's CUDA twin against the CPU bit for bit: output, argmax and dx. The CPU backward
// scatters dy to the argmax plane by plane, the CUDA backward gathers it per input element; both
// add in ascending output order from 0, so no tolerance. Ties (small integers) and NaNs check that
// both keep the first maximum and let a NaN win; overlapping windows (3x3 stride 2, 3x3 stride 1)
// check the order of the sums. Skipped without a GPU.
#include <gtest/gtest.h>

#include <limits>

#include "kernels/pool.h"
#include "tests/optim/sgd_test_util.h"  // bytes_of
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::bytes_of;

const Device kGpu = Device::cuda(0);

// [3, 5, 9, 11] of small integers (many ties), with a NaN every 37 elements when asked.
Tensor tied_input(bool with_nans) {
  Tensor x = testing::random_tensor({3, 5, 9, 11}, 5, -2.5f, 2.5f);
  std::vector<float> v = x.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<float>(static_cast<int>(v[i]));
    if (with_nans && i % 37 == 0) v[i] = std::numeric_limits<float>::quiet_NaN();
  }
  return Tensor::from_vector(v, x.shape());
}

Tensor in_layout(const Tensor& t, bool channels_last) {
  return channels_last ? t.contiguous(MemoryFormat::channels_last) : t.contiguous();
}

TEST(CudaTwin, MaxPoolForwardArgmaxAndBackwardAreBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  struct Geometry {
    int64_t k, s, pad;
    bool ceil;
  };
  for (Geometry geo : {Geometry{3, 2, 0, false}, Geometry{3, 2, 1, true}, Geometry{3, 1, 1, false},
                       Geometry{2, 2, 0, false}})
    for (bool nans : {false, true})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "k" << geo.k << " s" << geo.s << " p" << geo.pad
                                          << (nans ? " NaN" : "") << (cl ? " NHWC" : ""));
        PoolParams p;
        p.kernel_h = p.kernel_w = geo.k;
        p.stride_h = p.stride_w = geo.s;
        p.pad_h = p.pad_w = geo.pad;
        p.ceil_mode = geo.ceil;
        Tensor x = in_layout(tied_input(nans), cl), xg = in_layout(x.to(kGpu), cl);
        PoolGeometry g = pool_geometry("test", x, p);
        MemoryFormat f = cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
        Shape ys{g.out.N, g.out.C, g.out.H, g.out.W};
        Tensor y = Tensor::empty(ys, DType::f32, Device::cpu(), f);
        Tensor a = Tensor::empty(ys, DType::i32, Device::cpu(), f);
        Tensor yg = Tensor::empty(ys, DType::f32, kGpu, f);
        Tensor ag = Tensor::empty(ys, DType::i32, kGpu, f);
        pool2d_forward(PoolKind::max, x, y, a, p);
        pool2d_forward(PoolKind::max, xg, yg, ag, p);
        EXPECT_TRUE(bytes_of(yg) == bytes_of(y)) << "y";
        EXPECT_TRUE(bytes_of(ag) == bytes_of(a)) << "argmax";
        Tensor dy = in_layout(testing::random_tensor(ys, 9), cl);
        Tensor dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), f);
        Tensor dxg = Tensor::empty(x.shape(), DType::f32, kGpu, f);
        pool2d_backward(PoolKind::max, dy, a, dx, p);
        pool2d_backward(PoolKind::max, in_layout(dy.to(kGpu), cl), ag, dxg, p);
        EXPECT_TRUE(bytes_of(dxg) == bytes_of(dx)) << "dx";
        pool2d_forward(PoolKind::max, xg, yg, Tensor(), p);  // eval mode: no argmax
        EXPECT_TRUE(bytes_of(yg) == bytes_of(y)) << "y without argmax";
      }
}

}  // namespace
}  // namespace minidl
