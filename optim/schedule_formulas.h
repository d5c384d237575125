// The formulas behind the built-in schedules, as plain functions of the iteration `it` (>= 0).
// optim/schedule_parse.cpp wires them to names and keys; docs/optim.md states each one.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace minidl {
namespace schedules {

// ---- Caffe's policies (caffe/solvers/sgd_solver.cpp) ----
double caffe_step(double base, double gamma, int64_t stepsize,
                  int64_t it);  // base*gamma^floor(it/s)
// base * gamma^(number of steps <= it); steps ascending.
double caffe_multistep(double base, double gamma, const std::vector<int64_t>& steps, int64_t it);
double caffe_exp(double base, double gamma, int64_t it);                // base * gamma^it
double caffe_inv(double base, double gamma, double power, int64_t it);  // base*(1+gamma*it)^-power
// base * (1 - it/max_iter)^power, and 0 from max_iter on.
double caffe_poly(double base, double power, int64_t max_iter, int64_t it);

// Linear warm-up from warmup_start to base over `warmup` iterations, then half a cosine from base
// to min over the remaining max_iter - warmup iterations; min from max_iter on.
double cosine(double base, double min, int64_t max_iter, int64_t warmup, double warmup_start,
              int64_t it);

// ---- cyclical learning rates (Smith, "Cyclical Learning Rates", 2017; Caffe's CLR policies) ----
enum class ClrDecay { none, halve_per_cycle, exp_per_iteration };
// cycle = floor(1 + it/(2 ss)); x = |it/ss - 2 cycle + 1|;
// lr = base + (max - base) * max(0, 1 - x) * scale, scale = 1 (none), 1/2^(cycle-1)
// (triangular2) or gamma^it (exp_range). With cycles > 0, lr = base from it = 2 ss cycles on.
double triangular(double base, double max, int64_t ss, ClrDecay decay, double gamma, int64_t cycles,
                  int64_t it);

// ---- Smith's 1cycle and cyclical momentum, as his Caffe fork computes them (PAPER.md) ----
// it < ss: base + (max - base) it/ss;  ss <= it < 2 ss: max (2 ss - it)/ss;  it >= 2 ss: base/1000.
// The ratio it/ss is formed in single precision (float(it) / float(ss), then -2 +1 in float), as
// in his fork; this is what his logs show (lr(8000) = 0.00119905 for base 0.08, max 0.8, ss 4003,
// where exact arithmetic gives 0.00119910).
double smith_onecycle(double base, double max, int64_t ss, int64_t it);
// cycle = floor(it/(2 S)); x = (it - (2 cycle + 1) S)/S;
// mom = m_max + (m_min - m_max) min(1, max(0, (1 - |x|)/2^cycle))  (half-amplitude dip after 2S).
double smith_cyclic_momentum(double m_max, double m_min, int64_t s, int64_t it);

// ---- PyTorch's OneCycleLR (torch 1.13, torch/optim/lr_scheduler.py), reproduced operation by
// operation in double: phase boundaries float(pct_start*total)-1 (and float(2*pct_start*total)-2
// for three phases), cos or linear annealing, momentum cycled inversely between max and base. ----
class TorchOneCycle {
 public:
  TorchOneCycle(double max_lr, int64_t total_steps, double pct_start, bool cos_anneal,
                double div_factor, double final_div_factor, bool three_phase, double base_momentum,
                double max_momentum);
  // From total_steps on both hold their value at total_steps - 1 (PyTorch raises there).
  double lr(int64_t it) const;
  double momentum(int64_t it) const;
  // The length (end - start) of the shortest phase; 0 would divide by zero (PyTorch too).
  double shortest_phase() const;

 private:
  struct Phase {
    double end_step;
    double start_lr, end_lr, start_momentum, end_momentum;
  };
  std::pair<double, double> at(int64_t it) const;  // (lr, momentum)
  double anneal(double start, double end, double pct) const;
  std::vector<Phase> phases_;
  int64_t total_steps_;
  bool cos_;
};

// ---- range sweeps and piecewise-linear ----
double linear_sweep(double start, double end, int64_t iters, int64_t it);  // clamps at iters
double exp_sweep(double start, double end, int64_t iters, int64_t it);  // start*(end/start)^(it/n)
// Linear between (iteration, value) points (iterations increasing); flat before and after.
double piecewise_linear(const std::vector<std::pair<int64_t, double>>& points, int64_t it);

}  // namespace schedules
}  // namespace minidl
