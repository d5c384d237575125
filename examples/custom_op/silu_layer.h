// The SiLU layer: forward keeps its input for backward (layers/relu.h is the built-in model).
#pragma once

#include <memory>

#include "layers/module.h"
#include "models/registry.h"

namespace minidl {

class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "SiLU"; }

 protected:
  void clear_cache() override { x_ = Tensor(); }

 private:
  Tensor x_;
};

// silu_cnn: conv 32 3x3 - BN - SiLU - max pool 2 - conv 64 3x3 - BN - SiLU - global average pool
// - fc classes. Small enough to train a few hundred steps on Fashion-MNIST on a laptop CPU.
std::shared_ptr<Module> make_silu_cnn(const ModelArgs& args);

}  // namespace minidl
