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
//    Sgd::state_dict.
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

struct TrainState {
  int64_t iteration = 0;      // iterations completed (applied and skipped steps alike)
  int64_t skipped_steps = 0;  // iterations whose step a non-finite gradient skipped
  SmoothedLoss smoothed;
  double elapsed_s = 0;  // time in training iterations (evaluations and checkpoints excluded)

  nlohmann::json to_json() const;
  // Throws naming the missing or mistyped field.
  static TrainState from_json(const nlohmann::json& j);
};

// The position of a train loader that has served `iteration` batches from the start.
LoaderPosition loader_position(int64_t iteration, int64_t batches_per_epoch);

}  // namespace minidl
