// What the Solver tells its observers (the progress display and log lines, metrics.csv, the range
// test): one IterationRecord after every iteration, in order, then the end of the run. Observers
// only read. The running figures they show (loss since the epoch began, since the last metrics row)
// are differences of the run's totals (TrainState::totals) carried by every record, so the Solver
// keeps the only counters and an observer keeps no more than where it last looked (a TrainTotals
// mark). An observer with such a mark names itself (name()); the Solver saves its state() with
// every checkpoint and hands it back to restore() on resume, so a resumed run reports exactly what
// the uninterrupted run would have.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "optim/evaluate.h"
#include "optim/train_state.h"

namespace minidl {

enum class SolverStatus { finished, interrupted, diverged, stopped_by_callback };

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

  // Checkpointed state: "" (the default) for an observer without any.
  virtual std::string name() const { return ""; }
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& state) {}
};

}  // namespace minidl
