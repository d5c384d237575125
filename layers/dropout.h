// Dropout: inverted dropout with Philox masks (kernels/dropout.h).
#pragma once

#include "core/philox.h"
#include "layers/module.h"

namespace minidl {

// Inverted dropout (kernels/dropout.h): in training, each element is zeroed with probability p and
// the others scaled by 1 / (1 - p); identity in eval. Masks come from Philox with this layer's
// stream (seed, offset): forward reserves uniform_counters(numel) counters, and backward replays
// the same (seed, offset), so no mask is stored, and the CPU and CUDA masks are identical for a
// seed.
//
// The stream is the layer's state: the buffer "rng_state" (i64 [2]: seed, next offset, both
// bit-cast from uint64), saved in its state_dict and so in every checkpoint, and restored by
// load_state_dict. It lives on the module's device, where forward advances it (dropout_reserve,
// kernels/dropout.h) without a host round trip, so a CUDA graph's replays draw new masks; each
// data-parallel rank keeps its own (Buffer::random_state).
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
  // The mask stream, read from and written to the "rng_state" buffer (a copy to or from the device).
  Generator generator() const;
  void set_generator(const Generator& g);

 protected:
  void clear_cache() override { pending_ = false; }

 private:
  double p_;
  Buffer* rng_state_;
  bool pending_ = false;            // a training forward awaits its backward
  Tensor draw_;  // the last forward's (seed, offset) on the device, for backward to replay
  bool channels_last_ = false;
  Shape shape_;
};

}  // namespace minidl
