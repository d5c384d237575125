// Identity: y = x (a placeholder where a model has no layer, e.g. a plain shortcut).
#pragma once

#include "layers/module.h"

namespace minidl {

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  Tensor backward(const Tensor& dy) override { return dy; }
  std::string type_name() const override { return "Identity"; }
  bool takes_16bit(DType) const override { return true; }
};

}  // namespace minidl
