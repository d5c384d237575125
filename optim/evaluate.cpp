#include "optim/evaluate.h"

#include <algorithm>

namespace minidl {

namespace {

// Eval mode for the guard's lifetime; the previous mode afterwards, also when a batch throws.
class EvalMode {
 public:
  explicit EvalMode(Module& m) : m_(m), was_training_(m.training()) { m_.eval(); }
  ~EvalMode() { m_.train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  Module& m_;
  bool was_training_;
};

}  // namespace

EvalResult evaluate(Module& model, SoftmaxCrossEntropy& loss, Loader& loader, int64_t max_batches) {
  EvalMode mode(model);
  int64_t batches = max_batches < 0 ? loader.batches_per_epoch()
                                    : std::min(max_batches, loader.batches_per_epoch());
  loader.set_position({0, 0});
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, samples = 0;
  for (int64_t b = 0; b < batches; ++b) {
    Batch batch = loader.next();
    Tensor logits = model.forward(batch.images);
    int64_t n = batch.labels.numel();
    loss_sum += loss.forward(logits, batch.labels).item<double>() * n;
    top1 += loss.top1();
    top5 += loss.correct(std::min<int64_t>(5, logits.size(1)));
    samples += n;
  }
  return eval_from_totals(loss_sum, top1, top5, samples);
}

EvalResult eval_from_totals(double loss_sum, int64_t correct1, int64_t correct5, int64_t samples) {
  EvalResult r;
  r.loss_sum = loss_sum, r.correct1 = correct1, r.correct5 = correct5, r.samples = samples;
  if (samples > 0) {
    r.loss = loss_sum / samples;
    r.top1 = static_cast<double>(correct1) / samples;
    r.top5 = static_cast<double>(correct5) / samples;
  }
  return r;
}

Tensor predict(Module& model, const Tensor& images, int64_t batch_size, Device device) {
  MINIDL_CHECK(images.dim() == 4, "predict: images must be [N, C, H, W], got ",
               shape_str(images.shape()));
  MINIDL_CHECK(batch_size > 0, "predict: batch_size must be positive, got ", batch_size);
  EvalMode mode(model);
  const int64_t n = images.size(0);
  Tensor logits;
  for (int64_t b = 0; b < n; b += batch_size) {
    Tensor x = images.narrow(0, b, std::min(batch_size, n - b)).contiguous().to(device);
    Tensor y = model.forward(x).to(Device::cpu());
    if (!logits.defined()) logits = Tensor::empty({n, y.size(1)}, DType::f32);
    logits.narrow(0, b, y.size(0)).copy_(y);
  }
  return logits;
}

}  // namespace minidl
