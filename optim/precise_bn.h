// PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021; fvcore's update_bn_stats):
// re-estimates every BatchNorm2d's running statistics as the plain average over a few training
// batches, with the network's weights untouched.
//
// Why: running statistics are an exponential average that lags behind the weights. While the LR is
// large the weights move fast, and a network scored with lagging statistics can look broken when it
// is not (the LR range test's test points swing by 30 points of accuracy between neighbours).
// Scored after this, a test point measures the weights, not the lag.
//
//   std::vector<Tensor> saved = snapshot_buffers(model);   // to leave no trace
//   recompute_batchnorm_statistics(model, bn_loader, 10);
//   EvalResult e = evaluate(model, plain, test_loader, 16);
//   restore_buffers(model, saved);
#pragma once

#include <cstdint>
#include <vector>

#include "data/loader.h"
#include "layers/module.h"

namespace minidl {

// Runs `batches` batches of `loader`, from its first (so every call sees the same images), through
// `model` in training mode without a backward; each BatchNorm2d with running statistics then holds
// their average over those batches (BatchNorm2d::set_cumulative_statistics). num_batches_tracked is
// not advanced. Layers with randomness (Dropout) draw as in training: snapshot_buffers() first to
// undo that too. Restores the model's mode. The last batch's training caches stay until the next
// forward, as after any forward. Returns the number of BatchNorm2d layers updated (0: nothing to
// do, and no batch is run).
int64_t recompute_batchnorm_statistics(Module& model, Loader& loader, int64_t batches);

// Whether `model` holds a BatchNorm2d with running statistics (something for PreciseBN to do).
bool has_running_batchnorm(Module& model);

// Copies of every buffer of `model` (running statistics, RNG positions) and their restoration.
std::vector<Tensor> snapshot_buffers(Module& model);
void restore_buffers(Module& model, const std::vector<Tensor>& saved);

}  // namespace minidl
