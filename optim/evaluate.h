// Evaluation and inference: the forward-only loops every verb uses (train's evaluations, eval,
// predict, the range test's test points).
//
//   SoftmaxCrossEntropy plain;                        // the test loss is plain cross-entropy
//   EvalResult r = evaluate(model, plain, test_loader, /*max_batches=*/-1);
//   Tensor logits = predict(model, images, 256, Device::cpu());
//
// Both run the model in eval mode (BN running statistics, no dropout) and put it back in the mode
// it was in. Nothing is cached for a backward.
#pragma once

#include <cstdint>

#include "data/loader.h"
#include "layers/loss.h"
#include "layers/module.h"

namespace minidl {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // mean loss, accuracies in [0, 1]
  int64_t samples = 0;
  // The totals the means come from: a sharded evaluation sums them over the ranks (an average of
  // per-rank means would weigh ranks with fewer samples too much).
  double loss_sum = 0;
  int64_t correct1 = 0, correct5 = 0;
};

// The means of totals (what evaluate() returns, and the sum of several ranks' totals).
EvalResult eval_from_totals(double loss_sum, int64_t correct1, int64_t correct5, int64_t samples);

// Mean loss and top-1/top-5 accuracy over the first `max_batches` batches of `loader` (-1: one
// epoch). Starts from the loader's first batch, so every evaluation sees the same samples.
EvalResult evaluate(Module& model, SoftmaxCrossEntropy& loss, Loader& loader,
                    int64_t max_batches = -1);

// Logits [N, K] (f32, on the CPU) of `images` [N, C, H, W] (f32, already normalised), computed in
// batches of `batch_size` on `device`.
Tensor predict(Module& model, const Tensor& images, int64_t batch_size, Device device);

}  // namespace minidl
