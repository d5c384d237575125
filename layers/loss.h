// SoftmaxCrossEntropy: the fused softmax + cross-entropy loss (kernels/softmax_xent.h), as
// PyTorch's F.cross_entropy(logits, labels, label_smoothing=eps) with the batch mean. Not a Module:
// it takes labels and returns a scalar. Also counts top-1 / top-k correct predictions of the same
// forward.
//
//   SoftmaxCrossEntropy loss_fn(0.1);
//   Tensor loss = loss_fn.forward(logits, labels);   // [1], on logits' device
//   Tensor dlogits = loss_fn.backward();             // d(mean loss)/dlogits
//   int64_t top1 = loss_fn.correct(1), top5 = loss_fn.correct(5);
#pragma once

#include <vector>

#include "core/tensor.h"

namespace minidl {

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(double label_smoothing = 0.0);

  // logits [N, K] (f32/f64; bf16/f16 are widened to f32, and backward narrows dlogits back), labels
  // i64 [N] on the same device. Returns the mean loss over the
  // batch, a 1-element tensor of logits' dtype on their device (no host synchronisation). Large
  // logits are safe: the row maximum is subtracted before exp.
  Tensor forward(const Tensor& logits, const Tensor& labels);
  // d(scale * mean loss) / dlogits, [N, K], for the last forward.
  Tensor backward(double scale = 1.0);

  // Rows of the last forward whose label is among the k highest logits (ties broken toward the
  // lower class index). Copies the ranks to the host once per forward.
  int64_t correct(int64_t k) const;
  int64_t top1() const { return correct(1); }
  int64_t top5() const { return correct(5); }

  const Tensor& losses() const { return losses_; }  // per-row losses [N] of the last forward
  const Tensor& ranks() const { return ranks_; }    // per-row label rank, i64 [N]
  double label_smoothing() const { return smoothing_; }

 private:
  double smoothing_;
  Tensor probs_, labels_, losses_, ranks_;
  DType logits_dtype_ = DType::f32;
  mutable std::vector<int64_t> host_ranks_;
  mutable bool host_valid_ = false;
};

}  // namespace minidl
