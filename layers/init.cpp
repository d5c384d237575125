#include "layers/init.h"

#include <cmath>

#include "core/fill.h"
#include "kernels/random.h"

namespace minidl {

Fans compute_fans(const Tensor& w) {
  MINIDL_CHECK(w.dim() >= 2, "init: fan_in/fan_out need a weight of at least 2 dimensions, got ",
               shape_str(w.shape()));
  int64_t receptive = 1;
  for (int d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

// Draws in f32 (the Philox fills' type) and converts into t's dtype and device.
template <typename Fill>
static void fill_via_f32(const Tensor& t, Fill fill) {
  if (t.dtype() == DType::f32 && t.is_contiguous()) {
    fill(t);
    return;
  }
  Tensor tmp = Tensor::empty(t.shape(), DType::f32, t.device());
  fill(tmp);
  Tensor(t).copy_(tmp);
}

void uniform_fill_(const Tensor& t, double lo, double hi, Generator& gen) {
  fill_via_f32(t, [&](const Tensor& f) {
    uniform_(f, static_cast<float>(lo), static_cast<float>(hi), gen);
  });
}

void normal_fill_(const Tensor& t, double mean, double std, Generator& gen) {
  fill_via_f32(t, [&](const Tensor& f) {
    normal_(f, static_cast<float>(mean), static_cast<float>(std), gen);
  });
}

void msra_normal_(const Tensor& w, FanMode mode, Generator& gen) {
  Fans f = compute_fans(w);
  int64_t fan = mode == FanMode::fan_in ? f.fan_in : f.fan_out;
  MINIDL_CHECK(fan > 0, "msra init of a weight ", shape_str(w.shape()), " with zero fan");
  normal_fill_(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan)), gen);
}

void xavier_uniform_caffe_(const Tensor& w, Generator& gen) {
  Fans f = compute_fans(w);
  MINIDL_CHECK(f.fan_in > 0, "xavier init of a weight ", shape_str(w.shape()), " with zero fan_in");
  double bound = std::sqrt(3.0 / static_cast<double>(f.fan_in));
  uniform_fill_(w, -bound, bound, gen);
}

void pytorch_default_init_(const Tensor& w, const Tensor& bias, Generator& gen) {
  Fans f = compute_fans(w);
  // kaiming_uniform_(w, a=sqrt(5)): gain = sqrt(2 / (1 + a^2)), std = gain / sqrt(fan_in),
  // bound = sqrt(3) * std = 1 / sqrt(fan_in).
  const double a = std::sqrt(5.0), gain = std::sqrt(2.0 / (1.0 + a * a));
  const double fan_in = static_cast<double>(f.fan_in);
  const double bound = f.fan_in > 0 ? std::sqrt(3.0) * gain / std::sqrt(fan_in) : 0.0;
  uniform_fill_(w, -bound, bound, gen);
  if (bias.defined()) {
    double b = f.fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
    uniform_fill_(bias, -b, b, gen);
  }
}

void init_weight_and_bias(const std::string& scheme, const Tensor& w, const Tensor& bias,
                          Generator& gen) {
  check_init_scheme(scheme);
  if (scheme == "pytorch") {
    pytorch_default_init_(w, bias, gen);
    return;
  }
  if (scheme == "msra")
    msra_normal_(w, FanMode::fan_in, gen);
  else if (scheme == "msra_fan_out")
    msra_normal_(w, FanMode::fan_out, gen);
  else
    xavier_uniform_caffe_(w, gen);
  if (bias.defined()) fill(bias, 0.0);
}

const std::vector<std::string>& init_scheme_names() {
  static const std::vector<std::string> names{"msra", "msra_fan_out", "xavier", "pytorch"};
  return names;
}

void check_init_scheme(const std::string& scheme) {
  std::string known;
  for (const std::string& n : init_scheme_names()) {
    if (n == scheme) return;
    known += (known.empty() ? "" : ", ") + n;
  }
  MINIDL_FAIL("unknown weight init '", scheme, "'; known: ", known);
}

void init_weights(Module& root, const std::string& scheme, Generator& gen) {
  check_init_scheme(scheme);
  root.visit([&](Module& m) { m.init_parameters(scheme, gen); });
}

void init_weights(Module& root, const std::string& scheme, uint64_t seed) {
  Generator gen(seed);
  init_weights(root, scheme, gen);
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) {
  default_generator() = Generator(seed);
}

}  // namespace minidl
