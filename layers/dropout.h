// Dropout: inverted dropout with Philox masks (kernels/dropout.h).
#pragma once

#include "core/philox.h"
#include "layers/module.h"

namespace minidl {

// Inverted dropout (kernels/dropout.h): in training, each element is zeroed with probability p and
// the others scaled by 1 / (1 - p); identity in eval. Masks come from Philox with this layer's
// Generator: forward reserves uniform_counters(numel) counters, and backward replays the same
// (seed, offset), so no mask is stored, and the CPU and CUDA masks are identical for a seed.
class Dropout : public Module {
 public:
  // The seed defaults to a draw from default_generator() (distinct per layer, reproducible after
  // manual_seed()).
  explicit Dropout(double p = 0.5);
  Dropout(double p, uint64_t seed);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "Dropout"; }
  std::string options_str() const override;

  double p() const { return p_; }
  // The mask stream: save and restore it to replay masks (checkpoints, gradient checks).
  Generator& generator() { return gen_; }

 protected:
  void clear_cache() override { pending_ = false; }

 private:
  double p_;
  Generator gen_;
  bool pending_ = false;  // a training forward awaits its backward
  uint64_t offset_ = 0;   // its Philox offset
  bool channels_last_ = false;
  Shape shape_;
};

}  // namespace minidl
