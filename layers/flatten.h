// Flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...], as nn.Flatten.
#pragma once

#include "layers/module.h"

namespace minidl {

// [N, d1, d2, ...] -> [N, d1 * d2 * ...] (start_dim 1, as nn.Flatten). A view when x is
// contiguous; channels-last input is made contiguous first (the NCHW order of PyTorch's flatten).
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "Flatten"; }
  bool takes_16bit(DType) const override { return true; }

 protected:
  void clear_cache() override { shape_.clear(); }

 private:
  Shape shape_;  // the input shape (training mode), until backward
};

}  // namespace minidl
