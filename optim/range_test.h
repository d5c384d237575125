// The LR range test (PAPER.md "Method"; DESIGN.md §7): one short run with the LR rising from a
// small to a large value, read to choose the bounds of a cyclical schedule.
//
//  - linear (Smith): lr rises linearly from min_lr to max_lr; every eval_every iterations the test
//  loss
//    and accuracy are measured. Suggested max LR: where the test accuracy peaks; min LR: max / 10.
//  - exponential (fastai's lr_find): lr rises geometrically; the training loss is smoothed
//  (exponential
//    average, beta 0.98, bias-corrected) and the run stops once it exceeds stop_factor (4) times
//    its minimum. Suggested max LR: the LR at the smoothed loss's minimum / 10; min LR: max / 10.
// Both stop early on a non-finite loss. The model and optimiser state are restored afterwards: the
// test leaves no trained weights behind.
#pragma once

#include <cmath>
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
  int64_t eval_every = 20;    // linear mode: iterations between test evaluations
  int64_t eval_batches = 20;  // batches per evaluation (-1: the whole test set)
  double stop_factor = 4.0;   // exponential mode: stop at stop_factor x the best smoothed loss
  double beta = 0.98;         // smoothing of the training loss
  bool restore = true;        // put the model, optimiser and loader back as they were
};

struct RangeTestPoint {
  int64_t iteration = 0;
  double lr = 0, loss = 0, smoothed = 0;
  double test_loss = NAN, test_acc = NAN;  // linear mode, at evaluations
};

struct RangeTestResult {
  std::vector<RangeTestPoint> points;
  double suggested_max_lr = NAN, suggested_min_lr = NAN;
  std::string rule;         // how the suggestion was made, in words
  std::string stop_reason;  // "completed", "diverged at ...", "smoothed loss above 4x ..."
};

const char* range_test_mode_name(RangeTestOptions::Mode mode);  // "linear" | "exp"

RangeTestResult run_range_test(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer,
                               const Schedule& momentum, Loader& train, Loader* test,
                               const RangeTestOptions& options);

// DIR/range_test.csv (lr, iteration, train_loss, smoothed_loss, test_loss, test_acc) and
// DIR/range_test.json (mode, suggestions, rule, stop reason), both written atomically.
void write_range_test(const std::string& dir, const RangeTestOptions& options,
                      const RangeTestResult& result);

}  // namespace minidl
