// A trainable tensor with its gradient and the per-parameter settings the optimiser reads.
// Layers own their Parameters; Module::parameters() hands out pointers with full dotted names.
// Once packed into a ParameterArena (layers/arena.h; Module::arena()), value and grad are views of
// the arena's buffers: change them in place, never by assigning another tensor to the handle.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"

namespace minidl {

class ParameterArena;

struct Parameter {
  std::string name;  // stable dotted name, torchvision-style: "layer1.0.conv1.weight"
  Tensor value;      // f32 (the master copy when a lower-precision copy is used for compute)
  Tensor grad;       // f32, value's shape and device; backward accumulates (+=) into it
  // Caffe's per-parameter multipliers (e.g. FC bias: lr_mult 2, decay_mult 0).
  float lr_mult = 1.f;
  float decay_mult = 1.f;
  // Biases and BN scale/shift: the optimiser's "no decay on BN and biases".
  bool is_bias_or_norm = false;
  // The arena whose views value and grad are (set by ParameterArena::pack); empty until packed.
  std::weak_ptr<ParameterArena> arena;
};

}  // namespace minidl
