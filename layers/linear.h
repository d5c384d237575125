// Linear: y = x W^T + b, PyTorch's layer. x [N, in_features], weight [out, in] ("weight"), bias
// [out] ("bias", optional, is_bias_or_norm). GEMMs through kernels/gemm.h (OpenBLAS / cuBLAS); in
// bf16 / f16 (compute_precision) 16-bit GEMMs with f32 sums (docs/precision.md).
#pragma once

#include "layers/module.h"

namespace minidl {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;  // dx; weight.grad += dy^T x; bias.grad += sum(dy)
  std::string type_name() const override { return "Linear"; }
  std::string options_str() const override;
  void init_parameters(const std::string& scheme, Generator& gen) override;

  Parameter* weight() const { return weight_; }
  Parameter* bias() const { return bias_; }

 protected:
  void clear_cache() override { x_ = Tensor(); }

 private:
  int64_t in_, out_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor x_;
};

}  // namespace minidl
