// ReLU: y = max(x, 0), element-wise (kernels/elementwise.h).
#pragma once

#include "layers/module.h"

namespace minidl {

// y = max(x, 0). inplace: y overwrites x (saves an activation; only where nothing else keeps x for
// its backward, e.g. after BatchNorm2d, which caches its input, not its output). Caches y.
class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : inplace_(inplace) {}
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "ReLU"; }
  std::string options_str() const override { return inplace_ ? "inplace=True" : ""; }

 protected:
  void clear_cache() override { y_ = Tensor(); }

 private:
  bool inplace_;
  Tensor y_;
};

}  // namespace minidl
