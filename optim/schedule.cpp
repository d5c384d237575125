// The schedule formulas (optim/schedule_formulas.h) and the CSV writer.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/error.h"
#include "optim/schedule.h"
#include "optim/schedule_formulas.h"

namespace minidl {
namespace schedules {

double caffe_step(double base, double gamma, int64_t stepsize, int64_t it) {
  return base * std::pow(gamma, static_cast<double>(it / stepsize));
}

double caffe_multistep(double base, double gamma, const std::vector<int64_t>& steps, int64_t it) {
  auto passed = std::upper_bound(steps.begin(), steps.end(), it) - steps.begin();
  return base * std::pow(gamma, static_cast<double>(passed));
}

double caffe_exp(double base, double gamma, int64_t it) {
  return base * std::pow(gamma, static_cast<double>(it));
}

double caffe_inv(double base, double gamma, double power, int64_t it) {
  return base * std::pow(1.0 + gamma * static_cast<double>(it), -power);
}

double caffe_poly(double base, double power, int64_t max_iter, int64_t it) {
  if (it >= max_iter) return 0.0;
  return base * std::pow(1.0 - static_cast<double>(it) / static_cast<double>(max_iter), power);
}

double cosine(double base, double min, int64_t max_iter, int64_t warmup, double warmup_start,
              int64_t it) {
  if (it < warmup) return warmup_start + (base - warmup_start) * static_cast<double>(it) / warmup;
  if (it >= max_iter) return min;
  double t = static_cast<double>(it - warmup) / static_cast<double>(max_iter - warmup);
  return min + (base - min) * (1.0 + std::cos(M_PI * t)) / 2.0;
}

double triangular(double base, double max, int64_t ss, ClrDecay decay, double gamma, int64_t cycles,
                  int64_t it) {
  int64_t cycle = 1 + it / (2 * ss);
  if (cycles > 0 && cycle > cycles) return base;
  double x = std::fabs(static_cast<double>(it) / ss - 2.0 * cycle + 1.0);
  double scale = 1.0;
  if (decay == ClrDecay::halve_per_cycle) scale = 1.0 / std::pow(2.0, cycle - 1);
  if (decay == ClrDecay::exp_per_iteration) scale = std::pow(gamma, static_cast<double>(it));
  return base + (max - base) * std::max(0.0, 1.0 - x) * scale;
}

double smith_onecycle(double base, double max, int64_t ss, int64_t it) {
  if (it >= 2 * ss) return base / 1000.0;
  // cycle = 1 here; x = |it/ss - 2 cycle + 1| with the ratio and both additions in float.
  float ratio = static_cast<float>(it) / static_cast<float>(ss);
  float x = std::fabs((ratio - 2.0f) + 1.0f);
  double rise = std::max(0.0, 1.0 - static_cast<double>(x));
  return it < ss ? base + (max - base) * rise : max * rise;
}

double smith_cyclic_momentum(double m_max, double m_min, int64_t s, int64_t it) {
  int64_t cycle = it / (2 * s);
  double x = static_cast<double>(it - (2 * cycle + 1) * s) / static_cast<double>(s);
  double amount = std::min(1.0, std::max(0.0, (1.0 - std::fabs(x)) / std::pow(2.0, cycle)));
  return m_max + (m_min - m_max) * amount;
}

// ---- PyTorch's OneCycleLR ----

TorchOneCycle::TorchOneCycle(double max_lr, int64_t total_steps, double pct_start, bool cos_anneal,
                             double div_factor, double final_div_factor, bool three_phase,
                             double base_momentum, double max_momentum)
    : total_steps_(total_steps), cos_(cos_anneal) {
  const double initial_lr = max_lr / div_factor;
  const double min_lr = initial_lr / final_div_factor;
  const double total = static_cast<double>(total_steps);
  if (three_phase) {
    phases_ = {{pct_start * total - 1, initial_lr, max_lr, max_momentum, base_momentum},
               {2 * pct_start * total - 2, max_lr, initial_lr, base_momentum, max_momentum},
               {total - 1, initial_lr, min_lr, max_momentum, max_momentum}};
  } else {
    phases_ = {{pct_start * total - 1, initial_lr, max_lr, max_momentum, base_momentum},
               {total - 1, max_lr, min_lr, base_momentum, max_momentum}};
  }
}

double TorchOneCycle::anneal(double start, double end, double pct) const {
  if (cos_) {
    double cos_out = std::cos(M_PI * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::pair<double, double> TorchOneCycle::at(int64_t it) const {
  const double step_num = static_cast<double>(std::min(it, total_steps_ - 1));
  double start_step = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (step_num <= p.end_step || i + 1 == phases_.size()) {
      double pct = (step_num - start_step) / (p.end_step - start_step);
      return {anneal(p.start_lr, p.end_lr, pct), anneal(p.start_momentum, p.end_momentum, pct)};
    }
    start_step = p.end_step;
  }
  return {0.0, 0.0};  // unreachable: the last phase always answers
}

double TorchOneCycle::lr(int64_t it) const {
  return at(it).first;
}
double TorchOneCycle::momentum(int64_t it) const {
  return at(it).second;
}

double TorchOneCycle::shortest_phase() const {
  double start = 0, shortest = INFINITY;
  for (const Phase& p : phases_) {
    shortest = std::min(shortest, p.end_step - start);
    start = p.end_step;
  }
  return shortest;
}

// ---- sweeps, piecewise ----

double linear_sweep(double start, double end, int64_t iters, int64_t it) {
  double t = static_cast<double>(std::min(it, iters)) / static_cast<double>(iters);
  return start + (end - start) * t;
}

double exp_sweep(double start, double end, int64_t iters, int64_t it) {
  double t = static_cast<double>(std::min(it, iters)) / static_cast<double>(iters);
  return start * std::pow(end / start, t);
}

double piecewise_linear(const std::vector<std::pair<int64_t, double>>& points, int64_t it) {
  if (it <= points.front().first) return points.front().second;
  if (it >= points.back().first) return points.back().second;
  auto hi =
      std::upper_bound(points.begin(), points.end(), it,
                       [](int64_t v, const std::pair<int64_t, double>& p) { return v < p.first; });
  auto lo = hi - 1;
  double t = static_cast<double>(it - lo->first) / static_cast<double>(hi->first - lo->first);
  return lo->second + (hi->second - lo->second) * t;
}

}  // namespace schedules

const char* schedule_role_name(ScheduleRole role) {
  return role == ScheduleRole::lr ? "lr" : "momentum";
}

void write_schedule_csv(std::ostream& out, const Schedule& lr, const Schedule& momentum,
                        int64_t iterations, int64_t every) {
  MINIDL_CHECK(iterations >= 0, "write_schedule_csv: iterations must be >= 0, got ", iterations);
  MINIDL_CHECK(every > 0, "write_schedule_csv: every must be > 0, got ", every);
  out << "iteration,lr,momentum\n";
  char line[96];
  auto row = [&](int64_t it) {
    std::snprintf(line, sizeof line, "%lld,%.10g,%.10g\n", static_cast<long long>(it), lr.value(it),
                  momentum.value(it));
    out << line;
  };
  for (int64_t it = 0; it < iterations; it += every) row(it);
  if (iterations > 0 && (iterations - 1) % every != 0) row(iterations - 1);
}

}  // namespace minidl
