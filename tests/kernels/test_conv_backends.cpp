// The CPU convolution backends against each other (kernels/conv.h): oneDNN (f32, NCHW and
// channels-last) against the reference im2col + OpenBLAS twin on every convolution shape of the
// model zoo, forward, input, filter and bias gradients; the reference's own channels-last path; the
// backend switch. Skips the oneDNN cases in a build without it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "core/parallel.h"
#include "kernels/conv.h"
#include "kernels/cpu/conv_onednn.h"
#include "tests/testing.h"

namespace minidl {
namespace {

struct Shape4 {
  const char* where;  // which model has it
  int64_t N, C, H, W, O, K, stride, pad, dilation;
};

// Every distinct convolution of the zoo, at a small batch (and ImageNet sizes cut down: the
// geometry, not the image size, is what picks oneDNN's kernels), plus dilation and odd sizes.
std::vector<Shape4> zoo_shapes() {
  return {
      {"lenet conv1", 4, 1, 28, 28, 20, 5, 1, 0, 1},
      {"lenet conv2", 4, 20, 12, 12, 50, 5, 1, 0, 1},
      {"cifar3 conv1", 3, 3, 32, 32, 32, 5, 1, 2, 1},
      {"cifar3 conv3", 3, 32, 8, 8, 64, 5, 1, 2, 1},
      {"resnet stem (1 channel)", 4, 1, 28, 28, 16, 3, 1, 1, 1},
      {"resnet stem", 4, 3, 32, 32, 16, 3, 1, 1, 1},
      {"resnet 16->16", 4, 16, 32, 32, 16, 3, 1, 1, 1},
      {"resnet 16->32 stride 2", 4, 16, 32, 32, 32, 3, 2, 1, 1},
      {"resnet 64->64 at 8x8", 8, 64, 8, 8, 64, 3, 1, 1, 1},
      {"resnet 64->64 at 7x7", 8, 64, 7, 7, 64, 3, 1, 1, 1},
      {"shortcut B 1x1 stride 2", 4, 16, 32, 32, 32, 1, 2, 0, 1},
      {"smith shortcut 2x2 stride 2", 4, 16, 32, 32, 32, 2, 2, 0, 1},
      {"densenet transition 1x1", 4, 40, 16, 16, 40, 1, 1, 0, 1},
      {"densenet 3x3 growth 12", 4, 52, 8, 8, 12, 3, 1, 1, 1},
      {"wrn 160->320 stride 2", 2, 160, 16, 16, 320, 3, 2, 1, 1},
      {"imagenet stem 7x7 stride 2", 2, 3, 40, 40, 64, 7, 2, 3, 1},
      {"imagenet bottleneck 1x1", 2, 64, 14, 14, 256, 1, 1, 0, 1},
      {"imagenet 3x3 stride 2", 2, 128, 15, 15, 128, 3, 2, 1, 1},
      {"dilation 2", 3, 8, 17, 13, 8, 3, 1, 2, 2},
      {"odd sizes, floor mode", 5, 7, 11, 9, 6, 4, 3, 1, 1},
  };
}

ConvParams params(const Shape4& s) {
  ConvParams p;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  p.dilation_h = p.dilation_w = s.dilation;
  return p;
}

struct Results {
  Tensor y, dx, dw, db;
};

// y, dx, dw and db of one backend. dw and db start from ones (the op accumulates into them).
Results run(CpuConv backend, const Shape4& s, MemoryFormat format) {
  const CpuConv before = cpu_conv();
  set_cpu_conv(backend);
  ConvParams p = params(s);
  const int64_t OH = conv_output_size(s.H, s.K, s.stride, s.pad, s.dilation);
  const int64_t OW = conv_output_size(s.W, s.K, s.stride, s.pad, s.dilation);
  // x with one channel is NCHW and NHWC at once: y and dy then say which layout the op runs in.
  Tensor x = testing::random_tensor({s.N, s.C, s.H, s.W}, 1).contiguous(format);
  Tensor w = testing::random_tensor({s.O, s.C, s.K, s.K}, 2, -0.3f, 0.3f);
  Tensor b = testing::random_tensor({s.O}, 3);
  Tensor dy = testing::random_tensor({s.N, s.O, OH, OW}, 4).contiguous(format);
  Results r;
  r.y = Tensor::empty({s.N, s.O, OH, OW}, DType::f32, Device::cpu(), format);
  r.dx = Tensor::empty(x.shape(), DType::f32, Device::cpu(), format);
  r.dw = Tensor::full(w.shape(), 1.0);
  r.db = Tensor::full(b.shape(), 1.0);
  conv2d_forward(x, w, b, r.y, p);
  conv2d_backward(x, w, dy, r.dx, r.dw, r.db, p);
  set_cpu_conv(before);
  return r;
}

// |a - b| <= atol + rtol |b| elementwise, a in any layout, b the reference. The backends sum the
// C*K*K (forward, dw: N*OH*OW) products in different orders: f32 rounding of sums of ~1e2..1e4
// terms of size ~1, hence 1e-4 relative with an absolute floor scaled by the term count.
void expect_near(const Tensor& a, const Tensor& b, double terms, const std::string& what) {
  std::vector<float> av = a.contiguous().to_vector<float>(), bv = b.contiguous().to_vector<float>();
  ASSERT_EQ(av.size(), bv.size()) << what;
  const double atol = 2e-6 * terms, rtol = 1e-4;
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    double d = std::fabs(double(av[i]) - bv[i]);
    if (!(d <= atol + rtol * std::fabs(bv[i]))) ++bad;
    worst = std::max(worst, d);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << av.size() << " elements off, worst "
                     << worst << " (atol " << atol << ")";
}

TEST(ConvBackends, OneDnnMatchesTheReferenceOnEveryZooShape) {
  if (!cpu::conv_onednn::built()) GTEST_SKIP() << "built without oneDNN";
  for (const Shape4& s : zoo_shapes())
    for (MemoryFormat f : {MemoryFormat::contiguous, MemoryFormat::channels_last}) {
      const std::string what = std::string(s.where) +
                               (f == MemoryFormat::channels_last ? " (channels-last)" : " (NCHW)");
      Results ref = run(CpuConv::reference, s, MemoryFormat::contiguous);
      Results got = run(CpuConv::onednn, s, f);
      EXPECT_TRUE(got.y.is_contiguous(f)) << what;
      const int64_t OH = ref.y.size(2), OW = ref.y.size(3);
      expect_near(got.y, ref.y, double(s.C * s.K * s.K), what + " y");
      expect_near(got.dx, ref.dx, double(s.O * s.K * s.K), what + " dx");
      expect_near(got.dw, ref.dw, double(s.N * OH * OW), what + " dw");
      expect_near(got.db, ref.db, double(s.N * OH * OW), what + " db");
    }
}

TEST(ConvBackends, ReferenceChannelsLastIsItsNchwBitForBit) {
  // [4]: one input channel, so x is NCHW while y, dx and dy are NHWC.
  for (const Shape4& s : {zoo_shapes()[4], zoo_shapes()[6], zoo_shapes()[7], zoo_shapes()[18]}) {
    Results nchw = run(CpuConv::reference, s, MemoryFormat::contiguous);
    Results nhwc = run(CpuConv::reference, s, MemoryFormat::channels_last);
    EXPECT_TRUE(nhwc.y.is_contiguous(MemoryFormat::channels_last)) << s.where;
    EXPECT_TRUE(testing::all_close(nhwc.y.contiguous(), nchw.y, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(nhwc.dx.contiguous(), nchw.dx, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(nhwc.dw, nchw.dw, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(nhwc.db, nchw.db, 0, 0)) << s.where;
  }
}

// The oneDNN path runs fixed chunks of the batch on minidl's threads and adds the weight gradient's
// per-chunk partials in chunk order: the same bits for any thread count.
TEST(ConvBackends, OneDnnSameBitsForOneOrTwoThreads) {
  if (!cpu::conv_onednn::built()) GTEST_SKIP() << "built without oneDNN";
  const int before = num_threads();
  for (const Shape4& base : {zoo_shapes()[6], zoo_shapes()[9]}) {
    Shape4 s = base;
    s.N = 32;  // several chunks
    set_num_threads(1);
    Results one = run(CpuConv::onednn, s, MemoryFormat::contiguous);
    set_num_threads(2);
    Results two = run(CpuConv::onednn, s, MemoryFormat::contiguous);
    EXPECT_TRUE(testing::all_close(two.y, one.y, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(two.dx, one.dx, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(two.dw, one.dw, 0, 0)) << s.where;
    EXPECT_TRUE(testing::all_close(two.db, one.db, 0, 0)) << s.where;
  }
  set_num_threads(before);
}

TEST(ConvBackends, F64RunsTheReferenceWhicheverBackend) {
  if (!cpu::conv_onednn::built()) GTEST_SKIP() << "built without oneDNN";
  const CpuConv before = cpu_conv();
  Tensor x = testing::random_tensor({2, 3, 8, 8}, 1).to(DType::f64);
  Tensor w = testing::random_tensor({4, 3, 3, 3}, 2).to(DType::f64);
  ConvParams p;
  p.pad_h = p.pad_w = 1;
  Tensor a = Tensor::empty({2, 4, 8, 8}, DType::f64), b = Tensor::empty({2, 4, 8, 8}, DType::f64);
  set_cpu_conv(CpuConv::onednn);
  const int64_t cached = cpu::conv_onednn::cache_size();
  conv2d_forward(x, w, Tensor(), a, p);
  EXPECT_EQ(cpu::conv_onednn::cache_size(), cached);  // oneDNN was not asked
  set_cpu_conv(CpuConv::reference);
  conv2d_forward(x, w, Tensor(), b, p);
  set_cpu_conv(before);
  EXPECT_TRUE(testing::all_close(a, b, 0, 0));
}

TEST(ConvBackends, SwitchNamesAndBuildsWithoutOneDnn) {
  EXPECT_STREQ(cpu_conv_name(CpuConv::onednn), "onednn");
  EXPECT_STREQ(cpu_conv_name(CpuConv::reference), "reference");
  if (cpu::conv_onednn::built()) {
    if (!std::getenv("MINIDL_CPU_CONV")) EXPECT_EQ(cpu_conv(), CpuConv::onednn);  // the default
  } else {
    EXPECT_EQ(cpu_conv(), CpuConv::reference);
    EXPECT_MINIDL_ERROR(set_cpu_conv(CpuConv::onednn), "without oneDNN");
  }
}

}  // namespace
}  // namespace minidl
