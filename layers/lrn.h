// LRN: local response normalisation as Caffe's LRN layer (kernels/lrn.h has the formulas).
// Caffe's cifar10_full ("3-layer" in the paper) uses LRN(3, 5e-5, 0.75, 1, within_channel);
// AlexNet-style nets use across_channels (PyTorch's LocalResponseNorm for odd sizes).
#pragma once

#include "kernels/lrn.h"
#include "layers/module.h"

namespace minidl {

class LRN : public Module {
 public:
  explicit LRN(int64_t local_size = 5, double alpha = 1e-4, double beta = 0.75, double k = 1.0,
               LrnRegion region = LrnRegion::across_channels);
  explicit LRN(const LrnParams& p);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "LRN"; }
  std::string options_str() const override;
  const LrnParams& params() const { return p_; }

 protected:
  void clear_cache() override { x_ = y_ = scale_ = Tensor(); }

 private:
  LrnParams p_;
  Tensor x_, y_, scale_;
};

}  // namespace minidl
