// round_to_precision against PyTorch's own conversions (precision_reference.py says which values):
// every value rounds to the bits PyTorch gives for x.to(bfloat16 / float16).to(float32); a NaN
// stays a NaN (its payload is not compared). Then Conv2d and Linear computing in bf16 against
// PyTorch: the linear layer's output and bias gradient under its bf16 autocast; the linear layer's
// dx and dw, and all four of the convolution's figures, as float64 autograd over the bf16-rounded
// operands, rounded to bf16 once (Debian's PyTorch sums the linear backward in bf16, and its bf16
// convolution depends on the CPU: precision_reference.py says why). The output and every gradient
// within one bf16 unit in the last place, and nearly all bit for bit: sums in f32 in different
// orders may round the other way where they land near a bf16 rounding boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/npy.h"
#include "kernels/precision.h"
#include "layers/layers.h"
#include "tests/reference/reference_util.h"

namespace minidl {
namespace {

TEST(PrecisionReference, RoundingEqualsPyTorchBitForBit) {
  MINIDL_SKIP_WITHOUT_TORCH("torch");
  reference::TempDir tmp("precision");
  ASSERT_TRUE(reference::run_script("precision_reference.py", tmp.path.string()));
  const Tensor x = load_npy(tmp.file("x.npy"));
  ASSERT_GT(x.numel(), 20000);
  for (DType p : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(p));
    const Tensor want = load_npy(tmp.file(std::string(dtype_name(p)) + ".npy"));
    Tensor got = Tensor::empty(x.shape(), DType::f32, x.device());
    round_to_precision(x, p, got);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float g = got.data<float>()[i], w = want.data<float>()[i];
      const bool same = std::isnan(w) ? std::isnan(g) : std::memcmp(&g, &w, sizeof g) == 0;
      if (!same && mismatches++ < 5)
        ADD_FAILURE() << "x = " << x.data<float>()[i] << ": got " << g << ", PyTorch " << w;
    }
    EXPECT_EQ(mismatches, 0);
  }
}

// |got - want| in units of bf16's last place at want's magnitude (at least the smallest normal's).
double bf16_ulps(float got, float want) {
  const double ulp = std::ldexp(1.0, std::max(std::ilogb(want), -126) - 7);
  return std::fabs(double(got) - double(want)) / ulp;
}

void expect_bf16_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  const Tensor g = got.contiguous();
  int64_t same = 0;
  double worst = 0;
  for (int64_t i = 0; i < g.numel(); ++i) {
    const float a = g.data<float>()[i], b = want.data<float>()[i];
    same += std::memcmp(&a, &b, sizeof a) == 0;
    worst = std::max(worst, bf16_ulps(a, b));
  }
  std::printf("%s: %lld of %lld bit for bit, worst %.2f bf16 ulp\n", what.c_str(),
              static_cast<long long>(same), static_cast<long long>(g.numel()), worst);
  EXPECT_LE(worst, 1.0) << what;
  EXPECT_GE(same, g.numel() * 9 / 10) << what;
}

TEST(PrecisionReference, Bf16LayersMatchPyTorchAutocast) {
  MINIDL_SKIP_WITHOUT_TORCH("torch");
  reference::TempDir tmp("precision_layers");
  ASSERT_TRUE(reference::run_script("precision_reference.py", tmp.path.string()));
  auto in = [&](const std::string& name) { return load_npy(tmp.file(name + ".npy")); };
  Conv2d conv(Conv2dOptions(3, 5, 3).padding(1).bias(true));
  Linear fc(20, 7);
  for (auto [name, layer] : {std::pair<std::string, Module*>{"conv", &conv}, {"linear", &fc}}) {
    SCOPED_TRACE(name);
    layer->set_compute_precision(DType::bf16);
    layer->own_parameters()[0]->value.copy_(in(name + "_w"));
    layer->own_parameters()[1]->value.copy_(in(name + "_b"));
    layer->zero_grad();
    expect_bf16_close(layer->forward(in(name + "_x")), in(name + "_y"), name + " y");
    expect_bf16_close(layer->backward(in(name + "_dy")), in(name + "_dx"), name + " dx");
    expect_bf16_close(layer->own_parameters()[0]->grad, in(name + "_dw"), name + " dw");
    expect_bf16_close(layer->own_parameters()[1]->grad, in(name + "_db"), name + " db");
  }
}

}  // namespace
}  // namespace minidl
