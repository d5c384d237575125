// Every CPU kernel that runs through the ISA launcher (kernels/cpu/isa_dispatch.h) gives the
// baseline's bits under every wider ISA this CPU supports: sizes that are not multiples of any
// vector width (tails, single elements, several parallel chunks), NaN, infinities, negative zero
// and subnormals in the inputs. The SGD step's check is in tests/optim/test_sgd_isa.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/augment.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/image_layout.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;
using testing::same_bits_on_every_isa;

// 1 and 7 stay below every vector width; 70001 spans three parallel chunks with an odd tail.
const int64_t kSizes[] = {1, 7, 17, 33, 1001, 70001};

// Uniform values in [-2, 2) with specials sprinkled in every 13th element.
Tensor with_specials(int64_t n, uint32_t seed, DType dtype = DType::f32) {
  std::vector<float> v = random_tensor({n}, seed, -2.f, 2.f).to_vector<float>();
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            -0.f,
                            0.f,
                            std::numeric_limits<float>::denorm_min(),
                            -1e-40f,
                            3e38f};
  for (size_t i = seed % 13; i < v.size(); i += 13) v[i] = specials[(i / 13) % 8];
  return Tensor::from_vector(v, {n}).to(dtype);
}

TEST(IsaVariants, ElementwiseSameShape) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t n : kSizes) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " n=" + std::to_string(n));
      Tensor a = with_specials(n, 1, dt), b = with_specials(n, 2, dt);
      EXPECT_TRUE(same_bits_on_every_isa([&] {
        std::vector<Tensor> out;
        for (int k = 0; k < 7; ++k) out.push_back(Tensor::empty({n}, dt));
        add(a, b, out[0]);
        sub(a, b, out[1]);
        mul(a, b, out[2]);
        scale(-0.7, a, out[3]);
        relu_forward(a, out[4]);
        relu_backward(a, b, out[5]);
        out[6].copy_(b);
        axpy(0.3, a, out[6]);
        return out;
      }));
    }
}

TEST(IsaVariants, ElementwiseBroadcast) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  Tensor a = with_specials(2 * 5 * 7 * 9, 3).reshape({2, 5, 7, 9});
  Tensor per_channel = with_specials(5, 4), one = with_specials(1, 5);
  Tensor a_last = a.contiguous(MemoryFormat::channels_last);
  EXPECT_TRUE(same_bits_on_every_isa([&] {
    std::vector<Tensor> out;
    for (int k = 0; k < 3; ++k) out.push_back(Tensor::empty(a.shape()));
    out.push_back(Tensor::empty(a.shape(), DType::f32, Device::cpu(), MemoryFormat::channels_last));
    add(a, per_channel, out[0]);
    mul(a, one, out[1]);
    sub(a, per_channel, out[2]);
    mul(a_last, per_channel, out[3]);
    return out;
  }));
}

TEST(IsaVariants, Reductions) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(1001), int64_t(300007)}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " n=" + std::to_string(n));
      // Finite values: a NaN or inf would make every sum the same special value.
      Tensor x = random_tensor({n}, 11, -3.f, 3.f).to(dt);
      EXPECT_TRUE(same_bits_on_every_isa([&] {
        Tensor s = Tensor::empty({1}, dt);
        sum(x, s);
        return std::vector<Tensor>{s};
      }));
    }
  Tensor x = random_tensor({3, 5, 37, 29}, 12);
  EXPECT_TRUE(same_bits_on_every_isa([&] {
    Tensor c = Tensor::empty({5}), v = Tensor::empty({3, 5, 29}),
           i = Tensor::empty({3, 5, 29}, DType::i64);
    sum_per_channel(x, c);
    max_along(with_specials(3 * 5 * 37 * 29, 13).reshape({3, 5, 37, 29}), 2, v, i);
    return std::vector<Tensor>{c, v, i};
  }));
}

TEST(IsaVariants, Dropout) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t n : kSizes) {
      Tensor x = with_specials(n, 21, dt);
      EXPECT_TRUE(same_bits_on_every_isa([&] {
        Tensor y = Tensor::empty({n}, dt), z = Tensor::empty({n}, dt);
        dropout_forward(x, y, 0.3f, 77, 12345);
        dropout_forward(x, z, 0.5f, 78, (uint64_t(1) << 33) + 5);  // offset past 32 bits
        return std::vector<Tensor>{y, z};
      })) << dtype_name(dt)
          << " n=" << n;
    }
}

TEST(IsaVariants, SoftmaxCrossEntropy) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (int64_t K : {int64_t(1), int64_t(10), int64_t(37), int64_t(1000)}) {
    const int64_t N = 19;
    Tensor logits = random_tensor({N, K}, 31, -8.f, 8.f);
    std::vector<int64_t> lab;
    for (int64_t i = 0; i < N; ++i) lab.push_back((i * 7) % K);
    Tensor labels = Tensor::from_vector(lab, {N});
    EXPECT_TRUE(same_bits_on_every_isa([&] {
      Tensor p = Tensor::empty({N, K}), loss = Tensor::empty({N}),
             rank = Tensor::empty({N}, DType::i64), d = Tensor::empty({N, K});
      softmax_xent_forward(logits, labels, p, loss, rank, 0.1);
      softmax_xent_backward(p, labels, d, 0.1, 1.0 / N);
      return std::vector<Tensor>{p, loss, rank, d};
    })) << "K="
        << K;
  }
}

TEST(IsaVariants, Augment) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  const int64_t N = 40, B = 23;
  Tensor images = random_tensor({N, 3, 32, 31}, 41, 0.f, 255.f).to(DType::u8);
  std::vector<int64_t> lab, idx;
  for (int64_t i = 0; i < N; ++i) lab.push_back(i % 10);
  for (int64_t b = 0; b < B; ++b) idx.push_back((b * 17) % N);
  Tensor labels = Tensor::from_vector(lab, {N}), indices = Tensor::from_vector(idx, {B});
  for (bool random_crop : {true, false}) {
    CropFlipNormalize p;
    p.channels = 3, p.in_h = 32, p.in_w = 31, p.out_h = 29, p.out_w = 27, p.pad = 4;
    p.random_crop = random_crop, p.flip_p = 0.5f, p.seed = 5, p.epoch = 2;
    for (int c = 0; c < 3; ++c) p.scale[c] = 0.0157f * (c + 1), p.bias[c] = -1.9f + 0.1f * c;
    EXPECT_TRUE(same_bits_on_every_isa([&] {
      Tensor out = Tensor::empty({B, 3, 29, 27}), out_lab = Tensor::empty({B}, DType::i64);
      augment_batch(images, labels, indices, out, out_lab, p);
      return std::vector<Tensor>{out, out_lab};
    })) << "random_crop "
        << random_crop;
  }
}

// 4-d [N, C, H, W] of values in [-2, 2) (specials every 13th when asked), NCHW or channels-last.
Tensor image(const Shape& s, uint32_t seed, DType dt, bool channels_last, bool specials) {
  const int64_t n = s[0] * s[1] * s[2] * s[3];
  Tensor t = (specials ? with_specials(n, seed, dt) : random_tensor({n}, seed, -2.f, 2.f).to(dt))
                 .reshape(s);
  return channels_last ? t.contiguous(MemoryFormat::channels_last) : t;
}

// Shapes with H*W below, at and above the 8-lane width, odd channel counts, many channels (the
// C-wide loops of channels-last), and [N, C] (BatchNorm1d).
const Shape kBnShapes[] = {
    {3, 5, 1, 1}, {2, 3, 3, 5}, {4, 7, 9, 11}, {5, 19, 7, 7}, {2, 33, 17, 3}};

TEST(IsaVariants, BatchNorm) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& s : kBnShapes)
      for (bool cl : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s) + (cl ? " NHWC" : " NCHW"));
        const int64_t C = s[1];
        // Finite x for the statistics (one NaN would make a whole channel NaN), with |mean| > std
        // (the shifted one-pass variance); NaN and infinities go through the eval forward.
        Tensor x = random_tensor(s, 61, 1.f, 5.f).to(dt);
        if (cl) x = x.contiguous(MemoryFormat::channels_last);
        // dy finite too: a NaN in dy makes its channel's sums, and so every dx of the channel, NaN,
        // and which operand's NaN an AVX instruction passes on (the sign bit) may differ.
        Tensor dy = image(s, 62, dt, cl, false), xs = image(s, 63, dt, cl, true);
        Tensor gamma = random_tensor({C}, 64, 0.5f, 1.5f).to(dt),
               beta = random_tensor({C}, 65).to(dt);
        Tensor rm0 = random_tensor({C}, 66).to(dt), rv0 = random_tensor({C}, 67, 0.5f, 2.f).to(dt);
        EXPECT_TRUE(same_bits_on_every_isa([&] {
          Tensor y = empty_like_layout(s, x), ye = empty_like_layout(s, x),
                 dx = empty_like_layout(s, x);
          Tensor mean = Tensor::empty({C}, dt), invstd = Tensor::empty({C}, dt);
          Tensor rm = rm0.clone(), rv = rv0.clone();
          Tensor dg = Tensor::zeros({C}, dt), db = Tensor::zeros({C}, dt);
          batchnorm_forward_train(x, gamma, beta, y, mean, invstd, rm, rv, 0.1, 1e-5);
          batchnorm_forward_eval(xs, gamma, beta, rm, rv, ye, 1e-5);  // NaN/inf in x
          batchnorm_backward_train(x, dy, gamma, mean, invstd, dx, dg, db);
          // The fused ReLU (the mask from yr, about half of it zero).
          Tensor yr = empty_like_layout(s, x), yre = empty_like_layout(s, x),
                 dxr = empty_like_layout(s, x);
          Tensor dgr = Tensor::zeros({C}, dt), dbr = Tensor::zeros({C}, dt);
          batchnorm_forward_train(x, gamma, beta, yr, mean, invstd, rm, rv, 0.1, 1e-5, true);
          batchnorm_forward_eval(xs, gamma, beta, rm, rv, yre, 1e-5, true);
          batchnorm_backward_train(x, dy, gamma, mean, invstd, dxr, dgr, dbr, yr);
          return std::vector<Tensor>{y, mean, invstd, rm, rv, ye, dx, dg, db, yr, yre, dxr, dgr, dbr};
        }));
      }
}

// Max and average pooling run plain loops today (their AVX-512 copies were no faster); this guards
// the same bits should they be converted, and covers the shared file.
TEST(IsaVariants, Pool) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  PoolParams lenet;  // 2x2 stride 2
  lenet.kernel_h = lenet.kernel_w = 2, lenet.stride_h = lenet.stride_w = 2;
  PoolParams padded;  // 3x3 stride 2 pad 1, ceil mode: clipped windows at both edges
  padded.kernel_h = padded.kernel_w = 3, padded.stride_h = padded.stride_w = 2;
  padded.pad_h = padded.pad_w = 1, padded.ceil_mode = true, padded.count_include_pad = false;
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& s : {Shape{2, 3, 9, 11}, Shape{3, 17, 8, 8}, Shape{1, 1, 5, 3}})
      for (bool cl : {false, true})
        for (const PoolParams* p : {&lenet, &padded}) {
          SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s) + (cl ? " NHWC" : " NCHW") +
                       (p == &lenet ? " 2x2/2" : " 3x3/2 pad 1 ceil"));
          Tensor x = image(s, 71, dt, cl, true);
          const PoolGeometry g = pool_geometry("test", x, *p);
          const Shape os{s[0], s[1], g.out.H, g.out.W};
          Tensor dy = image(os, 72, dt, cl, true);
          EXPECT_TRUE(same_bits_on_every_isa([&] {
            Tensor ym = empty_like_layout(os, x), ya = empty_like_layout(os, x);
            Tensor am = Tensor::empty(os, DType::i32, Device::cpu(),
                                      cl ? MemoryFormat::channels_last : MemoryFormat::contiguous);
            Tensor dxm = empty_like_layout(s, x), dxa = empty_like_layout(s, x);
            pool2d_forward(PoolKind::max, x, ym, am, *p);
            pool2d_backward(PoolKind::max, dy, am, dxm, *p);
            pool2d_forward(PoolKind::avg, x, ya, Tensor(), *p);
            pool2d_backward(PoolKind::avg, dy, Tensor(), dxa, *p);
            return std::vector<Tensor>{ym, am, dxm, ya, dxa};
          }));
        }
}

TEST(IsaVariants, GlobalAvgPool) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& s :
         {Shape{2, 3, 1, 1}, Shape{3, 5, 7, 7}, Shape{2, 37, 5, 3}, Shape{128, 64, 7, 7}})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s) + (cl ? " NHWC" : " NCHW"));
        Tensor x = image(s, 81, dt, cl, true);
        Tensor dy = image({s[0], s[1], 1, 1}, 82, dt, false, true);
        EXPECT_TRUE(same_bits_on_every_isa([&] {
          Tensor y = Tensor::empty({s[0], s[1], 1, 1}, dt), dx = empty_like_layout(s, x);
          global_avg_pool_forward(x, y);
          global_avg_pool_backward(dy, dx);
          return std::vector<Tensor>{y, dx};
        }));
        if (dt != DType::f32) continue;
        // The CPU loops (8 planes side by side, channels of a pixel at once) sum in the element
        // function's order, which the CUDA twin runs: the same bits, NaN payloads included.
        Tensor y = Tensor::empty({s[0], s[1], 1, 1});
        global_avg_pool_forward(x, y);
        const ImageLayout l = image_layout("test", x, "x");
        for (int64_t j = 0; j < s[0] * s[1]; ++j) {
          const float ref = global_avg_pool_element(x.data<float>(), l, j);
          ASSERT_EQ(std::memcmp(&ref, y.data<float>() + j, sizeof ref), 0) << "plane " << j;
        }
      }
}

}  // namespace
}  // namespace minidl
