#include "layers/loss.h"

#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"

namespace minidl {

SoftmaxCrossEntropy::SoftmaxCrossEntropy(double label_smoothing) : smoothing_(label_smoothing) {
  MINIDL_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "SoftmaxCrossEntropy: label ",
               "smoothing ", label_smoothing, " outside [0, 1]");
}

Tensor SoftmaxCrossEntropy::forward(const Tensor& logits, const Tensor& labels) {
  MINIDL_CHECK(logits.defined() && logits.dim() == 2, "SoftmaxCrossEntropy: logits must be ",
               "[N, K], got ", logits.defined() ? shape_str(logits.shape()) : "undefined");
  MINIDL_CHECK(logits.size(0) > 0, "SoftmaxCrossEntropy: empty batch");
  Tensor z = logits.contiguous().to(math_dtype(logits.dtype()));
  const int64_t N = z.size(0);
  Tensor probs = Tensor::empty(z.shape(), z.dtype(), z.device());
  Tensor losses = Tensor::empty({N}, z.dtype(), z.device());
  Tensor ranks = Tensor::empty({N}, DType::i64, z.device());
  MINIDL_CHECK(labels.defined(), "SoftmaxCrossEntropy: undefined labels");
  Tensor lab = labels.contiguous();
  softmax_xent_forward(z, lab, probs, losses, ranks, smoothing_);
  // Only a successful forward replaces the state backward() and correct() read.
  probs_ = probs, losses_ = losses, ranks_ = ranks, labels_ = lab;
  logits_dtype_ = logits.dtype();
  host_valid_ = false;
  Tensor loss = Tensor::empty({1}, z.dtype(), z.device());
  mean(losses_, loss);
  return loss;
}

Tensor SoftmaxCrossEntropy::backward(double scale) {
  MINIDL_CHECK(probs_.defined(), "SoftmaxCrossEntropy: backward without a forward");
  Tensor d = Tensor::empty(probs_.shape(), probs_.dtype(), probs_.device());
  softmax_xent_backward(probs_, labels_, d, smoothing_,
                        scale / static_cast<double>(probs_.size(0)));
  return d.to(logits_dtype_);
}

int64_t SoftmaxCrossEntropy::correct(int64_t k) const {
  MINIDL_CHECK(ranks_.defined(), "SoftmaxCrossEntropy: correct() without a forward");
  MINIDL_CHECK(k >= 1, "SoftmaxCrossEntropy: correct(k) needs k >= 1, got ", k);
  if (!host_valid_) {
    host_ranks_ = ranks_.to_vector<int64_t>();
    host_valid_ = true;
  }
  int64_t n = 0;
  for (int64_t r : host_ranks_) n += (r >= 0 && r < k) ? 1 : 0;
  return n;
}

}  // namespace minidl
