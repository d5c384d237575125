// Finite-difference gradient checks for modules, in double precision on the CPU (header-only, for
// tests/layers and tests/models).
//
// For L(x, θ) = sum(r .* forward(x)) with a fixed random r, backward(r) must give dL/dx, and add
// dL/dθ to every parameter's gradient. Each checked coordinate is compared with the central
// difference (L(+h) - L(-h)) / 2h. Kinks (ReLU at 0, a max-pool argmax that changes, anywhere in a
// block) are found without knowing the layers: across a kink the one-sided differences
// (L(+h) - L(0)) / h and (L(0) - L(-h)) / h disagree by the jump in slope, while for a smooth L
// they differ by about h * L''. Such coordinates are skipped, as Caffe's GradientChecker skips
// inputs within its kink range; the check fails if more than max_skipped_fraction of them are.
//
//   Conv2d conv(3, 4, 3, 1, 1);
//   conv.to(DType::f64);
//   EXPECT_TRUE(check_gradients(conv, random_double({2, 3, 5, 5}, 7)));
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "layers/module.h"

namespace minidl::testing {

struct GradCheckOptions {
  double step = 1e-6;               // h
  double atol = 1e-6, rtol = 1e-5;  // pass: |analytic - numeric| <= atol + rtol * max(|a|, |n|)
  double kink_tol = 1e-3;           // kink: |d+ - d-| > kink_tol * max(1, |d|)
  int64_t max_coords = 64;          // per tensor: all coordinates, or a seeded sample of this many
  double max_skipped_fraction = 0.25;
  uint32_t seed = 1;
  bool check_input = true;               // false for a module whose input gets no gradient
  std::function<void()> before_forward;  // e.g. freeze_randomness(m): the same dropout masks
};

// A CPU f64 tensor of uniform values in [lo, hi) (std::mt19937 seeded with `seed`).
inline Tensor random_double(const Shape& shape, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& e : v) e = dist(rng);
  return Tensor::from_vector(v, shape);
}

// Restores every random-state buffer of m (Dropout's "rng_state") to its value now: call it before
// each forward to replay the same masks (the "fixed mask" of a dropout gradient check).
inline std::function<void()> freeze_randomness(Module& m) {
  std::vector<std::pair<Buffer*, Tensor>> saved;
  for (Buffer* b : m.buffers())
    if (b->random_state) saved.emplace_back(b, b->value.clone());
  return [saved]() {
    for (const auto& [b, v] : saved) b->value.copy_(v);
  };
}

namespace detail {

inline double weighted_sum(const Tensor& y, const Tensor& r) {
  std::vector<double> a = y.to_vector<double>(), b = r.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

inline std::vector<int64_t> pick_coords(int64_t n, int64_t max_coords, uint32_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (n <= max_coords) return idx;
  std::mt19937 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(static_cast<size_t>(max_coords));
  std::sort(idx.begin(), idx.end());
  return idx;
}

struct Tally {
  int64_t checked = 0, skipped = 0, failed = 0;
  std::ostringstream failures;
};

// Compares analytic[i] with the central difference of `loss` in coordinate i of `target` (a
// contiguous CPU f64 tensor that the loss reads).
inline void check_tensor(const std::string& name, const Tensor& target,
                         const std::vector<double>& analytic, const std::function<double()>& loss,
                         double base, const GradCheckOptions& o, uint32_t seed, Tally& t) {
  double* p = target.data<double>();
  for (int64_t i : pick_coords(target.numel(), o.max_coords, seed)) {
    const double saved = p[i];
    p[i] = saved + o.step;
    const double up = loss();
    p[i] = saved - o.step;
    const double down = loss();
    p[i] = saved;
    const double d = (up - down) / (2 * o.step);
    const double d_plus = (up - base) / o.step, d_minus = (base - down) / o.step;
    if (std::fabs(d_plus - d_minus) > o.kink_tol * std::max(1.0, std::fabs(d))) {
      ++t.skipped;
      continue;
    }
    ++t.checked;
    const double a = analytic[static_cast<size_t>(i)];
    if (std::fabs(a - d) > o.atol + o.rtol * std::max(std::fabs(a), std::fabs(d))) {
      if (++t.failed <= 8)
        t.failures << "\n  " << name << "[" << i << "]: analytic " << a << ", numeric " << d;
    }
  }
}

}  // namespace detail

// Checks dx and every parameter gradient of m at x (both CPU f64; m in the mode the test wants).
inline ::testing::AssertionResult check_gradients(Module& m, const Tensor& x,
                                                  const GradCheckOptions& o = {}) {
  if (x.dtype() != DType::f64 || !x.device().is_cpu())
    return ::testing::AssertionFailure()
           << "check_gradients needs a CPU f64 input, got " << x.str();
  for (Parameter* p : m.parameters())
    if (p->value.dtype() != DType::f64 || !p->value.device().is_cpu())
      return ::testing::AssertionFailure() << "parameter " << p->name << " is not CPU f64 (call "
                                           << "module.to(DType::f64))";
  Tensor xin = x.clone();  // perturbed in place
  auto run = [&]() {
    if (o.before_forward) o.before_forward();
    return m.forward(xin);
  };
  const Tensor y0 = run().clone();
  const Tensor r = random_double(y0.shape(), o.seed + 1000);
  auto loss = [&]() { return detail::weighted_sum(run(), r); };
  const double base = detail::weighted_sum(y0, r);

  // Analytic gradients: one forward, one backward(r), parameters' grads from zero.
  m.zero_grad();
  run();
  Tensor dx = m.backward(r);
  detail::Tally t;
  uint32_t seed = o.seed;
  if (o.check_input) {
    if (!dx.defined()) return ::testing::AssertionFailure() << m.where() << " returned no dx";
    if (dx.shape() != x.shape())
      return ::testing::AssertionFailure()
             << "dx has shape " << shape_str(dx.shape()) << ", x has " << shape_str(x.shape());
    // check_tensor perturbs x in memory order: dx's values in that order too (a channels-last x)
    const Tensor dx_like_x = dx.to(DType::f64).contiguous(xin.memory_format());
    const double* pdx = dx_like_x.data<double>();
    detail::check_tensor("x", xin, std::vector<double>(pdx, pdx + dx_like_x.numel()), loss, base, o,
                         seed++, t);
  }
  for (Parameter* p : m.parameters())
    detail::check_tensor(p->name, p->value, p->grad.to_vector<double>(), loss, base, o, seed++, t);

  const int64_t total = t.checked + t.skipped;
  if (t.failed > 0)
    return ::testing::AssertionFailure() << m.where() << ": " << t.failed << " of " << t.checked
                                         << " checked coordinates disagree" << t.failures.str();
  if (total == 0) return ::testing::AssertionFailure() << "no coordinate was checked";
  if (t.skipped > o.max_skipped_fraction * static_cast<double>(total))
    return ::testing::AssertionFailure()
           << t.skipped << " of " << total << " coordinates were skipped as kinks (too many)";
  return ::testing::AssertionSuccess()
         << t.checked << " coordinates checked, " << t.skipped << " skipped as kinks";
}

// Two forward/backward passes without zero_grad must leave twice the gradients of one (backward
// accumulates into parameter gradients, never overwrites them).
inline ::testing::AssertionResult check_accumulates(
    Module& m, const Tensor& x, const std::function<void()>& before_forward = {}) {
  auto pass = [&]() {
    if (before_forward) before_forward();
    Tensor y = m.forward(x);
    m.backward(random_double(y.shape(), 77));
  };
  m.zero_grad();
  pass();
  std::vector<std::vector<double>> once;
  for (Parameter* p : m.parameters()) once.push_back(p->grad.to_vector<double>());
  pass();
  size_t k = 0;
  for (Parameter* p : m.parameters()) {
    std::vector<double> twice = p->grad.to_vector<double>();
    for (size_t i = 0; i < twice.size(); ++i)
      if (std::fabs(twice[i] - 2 * once[k][i]) > 1e-9 * (1 + std::fabs(twice[i])))
        return ::testing::AssertionFailure() << p->name << "[" << i << "]: after two passes "
                                             << twice[i] << ", after one " << once[k][i];
    ++k;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace minidl::testing
