// TrainState: where a training run stands. The Solver owns the one instance; a checkpoint saves it
// (state.json, "train_state") and resume restores it, as one. Everything else about the run's
// position is derived from it or kept by its one owner:
//  - the epoch and the train loader's position: iteration -> (iteration / batches per epoch,
//    iteration % batches per epoch), since the train loader serves the Solver alone, from batch 0
//    (loader_position below);
//  - the random streams: the loader's shuffle and augmentation are pure functions of (seed, epoch,
//    sample index) (data/loader.h); each Dropout layer keeps its stream in its state_dict
//    ("rng_state"), so it travels with the weights; weight init ran before the first iteration;
//  - the optimiser's own state (momentum buffers, master weights, its applied-step count):
//    Sgd::state_dict;
//  - where an observer last looked (metrics.csv's previous row): the observer's own state, saved
//    beside this one (optim/observer.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

#include "data/loader.h"

namespace minidl {

// The training loss smoothed as fastai does (exponential average, beta 0.98, bias-corrected), and
// its lowest value: the divergence check and the exponential range test read it.
struct SmoothedLoss {
  double average = 0;  // the raw exponential average (before bias correction)
  double minimum = 0;  // lowest bias-corrected value so far
  int64_t count = 0;   // losses added

  // Adds one loss; returns the bias-corrected smoothed value.
  double add(double loss);
};

// Sums over every iteration of the run so far. Running figures (the loss since the epoch began,
// since the last metrics row) are differences of two of these.
struct TrainTotals {
  double loss_sum = 0;  // batch-mean loss x batch size, summed
  double correct = 0;   // top-1 correct samples
  double samples = 0;
  double seconds = 0;  // time spent in training iterations (evaluations and checkpoints excluded)

  TrainTotals since(const TrainTotals& mark) const {
    return {loss_sum - mark.loss_sum, correct - mark.correct, samples - mark.samples,
            seconds - mark.seconds};
  }
  double mean_loss() const { return loss_sum / samples; }
  double accuracy() const { return correct / samples; }
  double images_per_second() const { return samples / seconds; }

  nlohmann::json to_json() const;
  static TrainTotals from_json(const nlohmann::json& j);  // throws naming a bad field
};

// Dynamic loss scaling, for f16 (`precision: f16`, docs/precision.md), as PyTorch's GradScaler
// does it: the loss gradient is multiplied by `scale` before backward, so that small gradients
// survive f16's range, and the step divides it out. A step whose gradients overflowed (a non-finite
// value: the step is skipped) halves the scale and restarts the count; `growth_interval` applied
// steps in a row double it. GradScaler's defaults: 2^16, x2, x0.5, 2000.
struct LossScale {
  bool enabled = false;
  double scale = 65536.0;
  int64_t growth_tracker = 0;  // applied steps since the scale last changed
  int64_t growth_interval = 2000;

  void update(bool step_applied);
};

struct TrainState {
  int64_t iteration = 0;      // iterations completed (applied and skipped steps alike)
  int64_t skipped_steps = 0;  // iterations whose step a non-finite gradient skipped
  SmoothedLoss smoothed;
  TrainTotals totals;
  LossScale loss_scale;  // in state.json as "loss_scale" when enabled

  nlohmann::json to_json() const;
  // Every field must be there with its type (integers as integers) and the values consistent;
  // throws naming the field.
  static TrainState from_json(const nlohmann::json& j);
};

// The position of a train loader that has served `iteration` batches from the start.
LoaderPosition loader_position(int64_t iteration, int64_t batches_per_epoch);

}  // namespace minidl
