// ReLU: y = max(x, 0), element-wise (kernels/elementwise.h).
#pragma once

#include "layers/module.h"

namespace minidl {

// y = max(x, 0). inplace: y overwrites x (saves an activation; only where nothing else keeps x for
// its backward, e.g. after an unfused BatchNorm2d, which caches its input, not its output). Caches y.
// Fused (set_fused, by layers/fusion.h): the layer before it has applied the ReLU already (a
// BatchNorm2d with set_fused_relu), so forward and backward pass their tensor through.
class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : inplace_(inplace) {}
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "ReLU"; }
  bool takes_16bit(DType) const override { return true; }
  std::string options_str() const override;

  void set_fused(bool on) { fused_ = on; }
  bool fused() const { return fused_; }

 protected:
  void clear_cache() override { y_ = Tensor(); }

 private:
  bool inplace_;
  bool fused_ = false;
  Tensor y_;
};

}  // namespace minidl
