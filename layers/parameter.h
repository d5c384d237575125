// A trainable tensor with its gradient and the per-parameter settings the optimiser reads.
// Layers own their Parameters; Module::parameters() hands out pointers with full dotted names.
#pragma once

#include <string>

#include "core/tensor.h"

namespace minidl {

struct Parameter {
  std::string name;  // stable dotted name, torchvision-style: "layer1.0.conv1.weight"
  Tensor value;      // f32 (the master copy when a lower-precision copy is used for compute)
  Tensor grad;       // f32, value's shape and device; backward accumulates (+=) into it
  float lr_mult = 1.f;     // Caffe's per-parameter multipliers (e.g. FC bias: lr_mult 2, decay_mult 0)
  float decay_mult = 1.f;
  bool is_bias_or_norm = false;  // biases and BN scale/shift: the optimiser's "no decay on BN and biases"
};

}  // namespace minidl
