// What the Solver tells its observers (the progress display and log lines, metrics.csv, the range
// test): one IterationRecord after every iteration, in order, then the end of the run. Observers
// only read. The running figures they show (loss since the epoch began, since the last metrics row)
// are differences of the run's totals carried by every record, so the Solver keeps the only
// counters and an observer keeps no more than where it last looked (a TrainTotals mark).
#pragma once

#include <cstdint>
#include <string>

#include "optim/evaluate.h"
#include "optim/train_state.h"

namespace minidl {

enum class SolverStatus { finished, interrupted, diverged, stopped_by_callback };

// Sums over the iterations since the run (or its resume) began.
struct TrainTotals {
  double loss_sum = 0;  // batch-mean loss x batch size, summed
  double correct = 0;   // top-1 correct samples
  double samples = 0;
  double seconds = 0;  // time spent in training iterations

  TrainTotals since(const TrainTotals& mark) const {
    return {loss_sum - mark.loss_sum, correct - mark.correct, samples - mark.samples,
            seconds - mark.seconds};
  }
  double mean_loss() const { return loss_sum / samples; }
  double accuracy() const { return correct / samples; }
  double images_per_second() const { return samples / seconds; }
};

struct IterationRecord {
  int64_t iteration = 0;  // iterations completed, this one included
  int64_t iters_per_epoch = 1, max_iter = 0;
  double lr = 0, momentum = 0;                   // what this iteration's step used
  double loss = 0, smoothed_loss = 0, top1 = 0;  // this batch (top1 in [0, 1])
  bool step_applied = true;                      // false: a non-finite gradient skipped the step
  bool diverged = false;                         // the run stops after this record
  const EvalResult* eval = nullptr;  // this iteration's test evaluation, if there was one
  TrainTotals totals;
  const TrainState* state = nullptr;  // the run's state after this iteration

  int64_t epoch() const { return (iteration - 1) / iters_per_epoch; }  // 0-based, this iteration's
  bool epoch_end() const { return iteration % iters_per_epoch == 0 || iteration == max_iter; }
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_iteration(const IterationRecord& r) = 0;
  // The run ended (finished, interrupted, diverged or stopped); message says why in words.
  virtual void on_end(SolverStatus status, const std::string& message) {}
};

}  // namespace minidl
