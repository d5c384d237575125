// Every CUDA kernel against its CPU twin on the same input (atol + rtol*|ref|); skipped without a
// GPU. Tolerances: 0 wherever both twins run the same element math (copies, casts, fills,
// element-wise ops, argmax, random fills): the library is built with --fmad=false and
// -ffp-contract=off, so no side fuses a multiply-add. Non-zero only where the order of a sum
// differs (reductions: a CUB tree against the CPU's blocked order; GEMM: cuBLAS against OpenBLAS),
// scaled to the number of terms.
#include <gtest/gtest.h>

#include "core/copy.h"
#include "core/fill.h"
#include "kernels/counter.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/loss_scale.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

TEST(CudaTwin, FillEveryDtype) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8}) {
    Tensor g = Tensor::full({1001}, 3.3, t, kGpu);
    Tensor c = Tensor::full({1001}, 3.3, t);
    EXPECT_TRUE(all_close(g, c, 0, 0)) << dtype_name(t);
  }
}

TEST(CudaTwin, CountUpEqualsTheCpuTwin) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor g = Tensor::full({}, 1e12, DType::i64, kGpu);
  Tensor c = Tensor::full({}, 1e12, DType::i64);
  for (int i = 0; i < 5; ++i) count_up(g), count_up(c);
  EXPECT_EQ(g.item<int64_t>(), c.item<int64_t>());
  EXPECT_EQ(c.item<int64_t>(), int64_t{1000000000005});
}

TEST(CudaTwin, CopyCastsEveryDtypePairBitExactly) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor src = random_tensor({3, 70}, 1, -300.f, 300.f);
  const DType all[] = {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8};
  for (DType from : all)
    for (DType to : all) {
      Tensor s = from == DType::u8 ? src.to(DType::i32).to(DType::u8) : src.to(from);
      Tensor on_gpu = s.to(kGpu).to(to).to(Device::cpu());
      Tensor on_cpu = s.to(to);
      EXPECT_TRUE(all_close(on_gpu.to(DType::f32), on_cpu.to(DType::f32), 0, 0))
          << dtype_name(from) << " -> " << dtype_name(to);
    }
}

TEST(CudaTwin, StridedCopiesAndChannelsLast) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor x = random_tensor({2, 3, 5, 7}, 2);
  Tensor g = x.to(kGpu);
  EXPECT_TRUE(
      all_close(g.permute({3, 1, 0, 2}).contiguous(), x.permute({3, 1, 0, 2}).contiguous(), 0, 0));
  EXPECT_TRUE(all_close(g.narrow(2, 1, 3).contiguous(), x.narrow(2, 1, 3).contiguous(), 0, 0));
  Tensor gcl = g.contiguous(MemoryFormat::channels_last);
  EXPECT_TRUE(gcl.is_contiguous(MemoryFormat::channels_last));
  EXPECT_TRUE(all_close(gcl, x, 0, 0));
  // a channels-last GPU tensor to a contiguous CPU tensor, and back
  Tensor back = Tensor::empty(x.shape());
  back.copy_(gcl);
  EXPECT_TRUE(all_close(back, x, 0, 0));
}

TEST(CudaTwin, Elementwise) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor a = random_tensor({4, 6, 9, 11}, 3), b = random_tensor({4, 6, 9, 11}, 4),
         c = random_tensor({6}, 5);
  for (auto op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul})
    for (const Tensor* rhs : {&b, &c}) {
      Tensor out_c = Tensor::empty(a.shape()), out_g = Tensor::empty(a.shape(), DType::f32, kGpu);
      binary("twin", op, a, *rhs, out_c);
      binary("twin", op, a.to(kGpu), rhs->to(kGpu), out_g);
      EXPECT_TRUE(all_close(out_g, out_c, 0, 0));
    }
  // channels-last per-channel broadcast
  Tensor acl = a.contiguous(MemoryFormat::channels_last);
  Tensor oc = Tensor::empty(a.shape(), DType::f32, Device::cpu(), MemoryFormat::channels_last);
  Tensor og = Tensor::empty(a.shape(), DType::f32, kGpu, MemoryFormat::channels_last);
  add(acl, c, oc);
  add(acl.to(kGpu), c.to(kGpu), og);
  EXPECT_TRUE(all_close(og, oc, 0, 0));
  Tensor y_c = b.clone(), y_g = b.to(kGpu);
  axpy(0.3f, a, y_c);
  axpy(0.3f, a.to(kGpu), y_g);
  EXPECT_TRUE(all_close(y_g, y_c, 0, 0));  // y + a*x, two roundings on both (--fmad=false)
  Tensor r_c = Tensor::empty(a.shape()), r_g = Tensor::empty(a.shape(), DType::f32, kGpu);
  relu_forward(a, r_c);
  relu_forward(a.to(kGpu), r_g);
  EXPECT_TRUE(all_close(r_g, r_c, 0, 0));
  Tensor d_c = Tensor::empty(a.shape()), d_g = Tensor::empty(a.shape(), DType::f32, kGpu);
  relu_backward(r_c, b, d_c);
  relu_backward(r_g, b.to(kGpu), d_g);
  EXPECT_TRUE(all_close(d_g, d_c, 0, 0));
  scale(2.5f, a, r_c);
  scale(2.5f, a.to(kGpu), r_g);
  EXPECT_TRUE(all_close(r_g, r_c, 0, 0));
}

TEST(CudaTwin, Reductions) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (int64_t n : {1, 255, 4097, 1000003}) {
    Tensor x = random_tensor({n}, static_cast<uint32_t>(n));
    EXPECT_NEAR(sum_value(x.to(kGpu)), sum_value(x),
                1e-5 * std::sqrt(static_cast<double>(n)) + 1e-5)
        << n;
    EXPECT_NEAR(mean_value(x.to(kGpu)), mean_value(x), 1e-5) << n;
  }
  Tensor x = random_tensor({8, 5, 13, 17}, 6);
  Tensor s_c = Tensor::empty({5}), s_g = Tensor::empty({5}, DType::f32, kGpu);
  sum_per_channel(x, s_c);
  sum_per_channel(x.to(kGpu), s_g);
  EXPECT_TRUE(all_close(s_g, s_c, 1e-4, 1e-5));
  mean_per_channel(x, s_c);
  mean_per_channel(x.to(kGpu), s_g);
  EXPECT_TRUE(all_close(s_g, s_c, 1e-6, 1e-5));
  for (int dim = 0; dim < 4; ++dim) {
    Tensor i_c = argmax(x, dim), i_g = argmax(x.to(kGpu), dim);
    EXPECT_EQ(i_g.to_vector<int64_t>(), i_c.to_vector<int64_t>()) << dim;
  }
}

TEST(CudaTwin, Gemm) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_tensor(ta ? Shape{2, 33, 17} : Shape{2, 17, 33}, 7);
      Tensor b = random_tensor(tb ? Shape{2, 65, 33} : Shape{2, 33, 65}, 8);
      Tensor c = random_tensor({2, 17, 65}, 9);
      Tensor c_g = c.to(kGpu);
      gemm(ta, tb, 0.5f, a, b, 2.f, c);
      gemm(ta, tb, 0.5f, a.to(kGpu), b.to(kGpu), 2.f, c_g);
      EXPECT_TRUE(all_close(c_g, c, 1e-4, 1e-4)) << ta << tb;
      Tensor a2 = a.narrow(0, 0, 1).reshape({a.size(1), a.size(2)});
      Tensor b2 = b.narrow(0, 0, 1).reshape({b.size(1), b.size(2)});
      EXPECT_TRUE(
          all_close(matmul(a2.to(kGpu), b2.to(kGpu), ta, tb), matmul(a2, b2, ta, tb), 1e-4, 1e-4));
    }
}

// cublasGemmEx on bf16 / f16 operands with f32 compute against the CPU twin (widen, sgemm): the
// same products, summed in cuBLAS's order.
TEST(CudaTwin, Gemm16BitOperandsIntoF32) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (DType p : {DType::bf16, DType::f16})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = random_tensor(ta ? Shape{2, 33, 17} : Shape{2, 17, 33}, 7).to(p);
        Tensor b = random_tensor(tb ? Shape{2, 65, 33} : Shape{2, 33, 65}, 8).to(p);
        Tensor c = random_tensor({2, 17, 65}, 9);
        Tensor c_g = c.to(kGpu);
        gemm(ta, tb, 0.5f, a, b, 2.f, c);
        gemm(ta, tb, 0.5f, a.to(kGpu), b.to(kGpu), 2.f, c_g);
        EXPECT_TRUE(all_close(c_g, c, 1e-4, 1e-4)) << dtype_name(p) << ta << tb;
        Tensor a2 = a.narrow(0, 0, 1).reshape({a.size(1), a.size(2)});
        Tensor b2 = b.narrow(0, 0, 1).reshape({b.size(1), b.size(2)});
        Tensor m = Tensor::empty({17, 65}), m_g = Tensor::empty({17, 65}, DType::f32, kGpu);
        gemm(ta, tb, 1.0, a2, b2, 0.0, m);
        gemm(ta, tb, 1.0, a2.to(kGpu), b2.to(kGpu), 0.0, m_g);
        EXPECT_TRUE(all_close(m_g, m, 1e-4, 1e-4)) << "batch 1";
      }
}

TEST(CudaTwin, RandomFillsAreBitIdentical) {
  MINIDL_SKIP_WITHOUT_GPU();
  const int64_t n = 100001;
  Tensor c = Tensor::empty({n}), g = Tensor::empty({n}, DType::f32, kGpu);
  uniform_(c, -1.f, 3.f, 123, 456);
  uniform_(g, -1.f, 3.f, 123, 456);
  EXPECT_TRUE(all_close(g, c, 0, 0));
  normal_(c, 0.5f, 2.f, 99, 1);
  normal_(g, 0.5f, 2.f, 99, 1);
  EXPECT_TRUE(all_close(g, c, 0, 0));
  Tensor mc = Tensor::empty({n}, DType::u8), mg = Tensor::empty({n}, DType::u8, kGpu);
  bernoulli_(mc, 0.8f, 7, 0);
  bernoulli_(mg, 0.8f, 7, 0);
  EXPECT_EQ(mg.to_vector<uint8_t>(), mc.to_vector<uint8_t>());
}

// Dropout's stream on the device: the reserve's draw and advanced state, and the mask drawn from
// a draw in device memory, equal the CPU twin's.
TEST(CudaTwin, DropoutReserveAndDeviceDrawEqualTheCpuTwin) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor state = Tensor::from_vector<int64_t>({-5, (int64_t(1) << 40) + 3}, {2});
  Tensor draw = Tensor::zeros({2}, DType::i64);
  Tensor gstate = state.to(kGpu), gdraw = draw.to(kGpu);
  for (int64_t n : {1, 100001, 7}) {
    dropout_reserve(state, draw, n);
    dropout_reserve(gstate, gdraw, n);
  }
  EXPECT_EQ(gstate.to_vector<int64_t>(), state.to_vector<int64_t>());
  EXPECT_EQ(gdraw.to_vector<int64_t>(), draw.to_vector<int64_t>());
  Tensor x = testing::random_tensor({1000, 37}, 4), y = Tensor::empty({1000, 37});
  Tensor gy = Tensor::empty({1000, 37}, DType::f32, kGpu);
  dropout_apply(x, y, 0.3f, draw);
  dropout_apply(x.to(kGpu), gy, 0.3f, gdraw);
  EXPECT_TRUE(all_close(gy, y, 0, 0));
}

// The dynamic loss scale's kernels on the device against the CPU twin: a run of outcomes through
// the update rule, the grad_scale written into the SGD's live scalars, the gradient scaled.
TEST(CudaTwin, LossScaleKernelsEqualTheCpuTwin) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor state = loss_scale_state(4096.0, 1, Device::cpu()), gstate = state.to(kGpu);
  Tensor live = Tensor::zeros({4}, DType::i32), glive = live.to(kGpu);
  for (int32_t skipped : {0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0}) {
    Tensor flag = Tensor::full({1}, skipped, DType::i32);
    loss_scale_update(state, flag, 3);
    loss_scale_update(gstate, flag.to(kGpu), 3);
  }
  EXPECT_EQ(gstate.to_vector<double>(), state.to_vector<double>());
  loss_scale_prepare(state, live);
  loss_scale_prepare(gstate, glive);
  EXPECT_EQ(glive.to_vector<int32_t>(), live.to_vector<int32_t>());
  Tensor x = testing::random_tensor({333, 7}, 9), gx = x.to(kGpu);
  loss_scale_apply(x, state);
  loss_scale_apply(gx, gstate);
  EXPECT_TRUE(all_close(gx, x, 0, 0));
}

}  // namespace
}  // namespace minidl
