// Every CPU kernel that runs through the ISA launcher (kernels/cpu/isa_dispatch.h) gives the
// baseline's bits under every wider ISA this CPU supports: sizes that are not multiples of any
// vector width (tails, single elements, several parallel chunks), NaN, infinities, negative zero
// and subnormals in the inputs. The SGD step's check is in tests/optim/test_sgd_isa.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/augment.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
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

}  // namespace
}  // namespace minidl
