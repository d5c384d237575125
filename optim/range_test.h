// The LR range test (PAPER.md "Method"; DESIGN.md §7): one short run with the LR rising from a
// small to a large value, read to choose the bounds of a cyclical schedule.
//
//  - linear (Smith): lr rises linearly from min_lr to max_lr; every eval_every iterations the
//    network is scored on the test set. Before each test point, PreciseBN (optim/precise_bn.h)
//    re-estimates the BN statistics on bn_batches training batches, so the point measures the
//    weights rather than running statistics that lag behind them (without it, neighbouring points
//    at a large LR differ by 30 points of accuracy). The test loss is then smoothed by a centred
//    moving average of `smooth` points, and the rule (suggest_from_test_loss) reads the edge off
//    the smoothed curve: where, once near its minimum, it first rises `margin` (10%) above its
//    lowest value so far. Max LR is `edge_fraction` (0.6) of the edge: at the edge the sweep's
//    network is already coming apart, and 6-epoch 1cycle runs peaking at 0.9 of it ended 0.2-1.4
//    points below runs at 0.6 (docs/results.md, "edge fraction"). Min LR: max / 10.
//  - exponential (fastai's lr_find): lr rises geometrically; the training loss is smoothed
//    (exponential average, beta 0.98, bias-corrected) and the run stops once it exceeds
//    stop_factor (4) times its minimum. Suggested max LR: the LR at the smoothed loss's minimum /
//    10; min LR: max / 10.
// Both stop early on a non-finite loss; in linear mode the point where the sweep stopped joins
// the test curve as +inf (the loss rose there). The model and optimiser state are restored
// afterwards: the test leaves no trained weights behind.
//
// Repeats: the same sweep run at several seeds (the verb's --repeats) is combined by
// combine_range_tests: linear mode reads the rule off the mean of the repeats' smoothed curves;
// exponential mode takes the median of their suggestions. Each repeat's own suggestion is kept, so
// the spread is reported beside the combined one.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "data/loader.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace minidl {

struct RangeTestOptions {
  enum Mode { linear, exponential } mode = linear;
  double min_lr = 0.0, max_lr = 3.0;
  int64_t iterations = 500;
  int64_t eval_every = 20;     // linear mode: iterations between test evaluations
  int64_t eval_batches = 20;   // batches per evaluation (-1: the whole test set)
  int64_t bn_batches = 10;     // linear mode: PreciseBN batches before each evaluation (0: none)
  int64_t smooth = 5;          // linear mode: points in the test loss's centred moving average
  double margin = 0.1;         // linear mode: the rule's allowance, a fraction of the minimum
  double edge_fraction = 0.6;  // linear mode: max LR as a fraction of the edge (the first rise)
  double stop_factor = 4.0;    // exponential mode: stop at stop_factor x the best smoothed loss
  double beta = 0.98;          // smoothing of the training loss
  bool restore = true;         // put the model, optimiser and loader back as they were
  bool dynamic_loss_scale = false;  // f16: SolverOptions::dynamic_loss_scale
};

struct RangeTestPoint {
  int64_t iteration = 0;
  double lr = 0, loss = 0, smoothed = 0;
  double test_loss = NAN, test_acc = NAN;  // linear mode, at evaluations
  double smoothed_test_loss = NAN;         // linear mode, at evaluations (after the run)
};

// A suggestion and how it was made.
struct LrSuggestion {
  double max_lr = NAN, min_lr = NAN;
  // Linear mode: from where the smoothed test loss came within the margin of its minimum to the
  // edge, where it first rose the margin above its lowest value so far (how wide the usable range
  // is); max_lr = edge_fraction x flat_to.
  double flat_from = NAN, flat_to = NAN;
  std::string rule;  // in words, with the figures behind it; or why there is no suggestion
};

struct RangeTestResult {
  std::vector<RangeTestPoint> points;
  LrSuggestion suggestion;
  double accuracy_peak_lr = NAN;  // linear mode: where the raw test accuracy peaked (the old rule)
  std::string stop_reason;        // "completed", "diverged at ...", "smoothed loss above 4x ..."
};

const char* range_test_mode_name(RangeTestOptions::Mode mode);  // "linear" | "exp"

// One sweep. `bn_data` (linear mode, with options.bn_batches > 0): the training batches PreciseBN
// averages over; it should be a loader of its own, not `train` (whose position it would move).
RangeTestResult run_range_test(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer,
                               const Schedule& momentum, Loader& train, Loader* test,
                               const RangeTestOptions& options, Loader* bn_data = nullptr);

// Centred moving average over `window` points (odd; shortened at the ends, where fewer
// neighbours exist). A non-finite value (a diverged point) stays as it is and is left out of its
// neighbours' averages.
std::vector<double> smooth_centered(const std::vector<double>& values, int64_t window);

// The linear mode's rule on a smoothed test-loss curve (lr ascending), "where the test loss
// starts to rise" made exact: with L* its minimum, scan from the first point within (1 + margin)
// L* (flat_from), keeping the lowest value so far; the edge (flat_to) is where the curve first
// rises above (1 + margin) times that lowest value, linearly interpolated between the two points
// around the crossing (a non-finite point, diverged, crosses at the point before it). Max LR =
// edge_fraction x the edge. No suggestion when the minimum is the first point (the sweep starts
// too high) or the curve never rises that far (raise max_lr).
LrSuggestion suggest_from_test_loss(const std::vector<double>& lr,
                                    const std::vector<double>& smoothed_loss, double margin,
                                    double edge_fraction);

// Several repeats of one sweep and the suggestion from all of them (see the top of this file).
struct RangeTestReport {
  std::vector<RangeTestResult> repeats;
  std::vector<uint64_t> seeds;
  LrSuggestion suggestion;
  // Linear mode: the curve the rule read (the mean of the repeats' smoothed test losses).
  std::vector<double> curve_lr, curve_loss;
};
RangeTestReport combine_range_tests(std::vector<RangeTestResult> repeats,
                                    std::vector<uint64_t> seeds, const RangeTestOptions& options);

// DIR/range_test.csv (repeat, seed, lr, iteration, train_loss, smoothed_loss, test_loss,
// test_acc, smoothed_test_loss) and DIR/range_test.json (mode, the options, the suggestion and
// rule, each repeat's suggestion and stop reason, the spread, the combined curve), both written
// atomically.
void write_range_test(const std::string& dir, const RangeTestOptions& options,
                      const RangeTestReport& report);

}  // namespace minidl
