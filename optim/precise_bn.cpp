#include "optim/precise_bn.h"

#include <algorithm>

#include "layers/batchnorm.h"

namespace minidl {

int64_t recompute_batchnorm_statistics(Module& model, Loader& loader, int64_t batches) {
  MINIDL_CHECK(batches > 0, "recompute_batchnorm_statistics: batches must be positive, got ",
               batches);
  std::vector<BatchNorm2d*> bns;
  model.visit([&](Module& m) {
    auto* bn = dynamic_cast<BatchNorm2d*>(&m);
    if (bn && bn->running_mean()) bns.push_back(bn);
  });
  if (bns.empty()) return 0;
  const bool was_training = model.training();
  // Put everything back also when a batch throws (a corrupt image, an allocation).
  struct Restore {
    Module& model;
    std::vector<BatchNorm2d*>& bns;
    bool was_training;
    ~Restore() {
      for (BatchNorm2d* bn : bns) bn->set_cumulative_statistics(false);
      model.train(was_training);
    }
  } restore{model, bns, was_training};
  model.train(true);
  for (BatchNorm2d* bn : bns) bn->set_cumulative_statistics(true);
  loader.set_position({0, 0});
  const int64_t n = std::min(batches, loader.batches_per_epoch());
  for (int64_t b = 0; b < n; ++b) model.forward(loader.next().images);
  return static_cast<int64_t>(bns.size());
}

bool has_running_batchnorm(Module& model) {
  bool found = false;
  model.visit([&](Module& m) {
    auto* bn = dynamic_cast<BatchNorm2d*>(&m);
    found |= bn && bn->running_mean();
  });
  return found;
}

std::vector<Tensor> snapshot_buffers(Module& model) {
  std::vector<Tensor> saved;
  for (Buffer* b : model.buffers()) saved.push_back(b->value.clone());
  return saved;
}

void restore_buffers(Module& model, const std::vector<Tensor>& saved) {
  std::vector<Buffer*> buffers = model.buffers();
  MINIDL_CHECK(buffers.size() == saved.size(), "restore_buffers: the model has ", buffers.size(),
               " buffers, the snapshot ", saved.size());
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i]->value.copy_(saved[i]);
}

}  // namespace minidl
