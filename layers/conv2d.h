// Conv2d: y = conv(x, weight) + bias, PyTorch's layer. weight [out, in, kh, kw] ("weight"),
// bias [out] ("bias", optional, is_bias_or_norm). CPU: NCHW (channels-last input is converted);
// CUDA: cuDNN, NCHW or channels-last (y follows x's layout). Caches x for backward.
#pragma once

#include <utility>

#include "kernels/conv.h"
#include "layers/module.h"

namespace minidl {

// Builder-style options, as libtorch's: Conv2dOptions(16, 32, 3).stride(2).padding(1).bias(false).
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_(in_channels), out_(out_channels), kh_(kernel_size), kw_(kernel_size) {}
  Conv2dOptions& kernel_size(int64_t kh, int64_t kw) {
    kh_ = kh, kw_ = kw;
    return *this;
  }
  Conv2dOptions& stride(int64_t s) { return stride(s, s); }
  Conv2dOptions& stride(int64_t sh, int64_t sw) {
    p_.stride_h = sh, p_.stride_w = sw;
    return *this;
  }
  Conv2dOptions& padding(int64_t p) { return padding(p, p); }
  Conv2dOptions& padding(int64_t ph, int64_t pw) {
    p_.pad_h = ph, p_.pad_w = pw;
    return *this;
  }
  Conv2dOptions& dilation(int64_t d) {
    p_.dilation_h = p_.dilation_w = d;
    return *this;
  }
  Conv2dOptions& bias(bool b) {
    bias_ = b;
    return *this;
  }

  int64_t in_, out_, kh_, kw_;
  ConvParams p_;
  bool bias_ = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  // The common square case: Conv2d(16, 32, 3, /*stride=*/1, /*padding=*/1, /*bias=*/false).
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);

  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;  // dx; weight.grad += ..., bias.grad += ...
  std::string type_name() const override { return "Conv2d"; }
  // Without a bias in bf16 / f16 (compute_precision): x may be in that dtype, and y is.
  bool takes_16bit(DType t) const override { return !bias_ && t == precision_; }
  std::string options_str() const override;
  void init_parameters(const std::string& scheme, Generator& gen) override;

  Parameter* weight() const { return weight_; }
  Parameter* bias() const { return bias_; }  // null without bias
  const Conv2dOptions& options() const { return opts_; }

 protected:
  void clear_cache() override { x_ = Tensor(); }

 private:
  Conv2dOptions opts_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor backward_16bit(const Tensor& x, const Tensor& dy, MemoryFormat f);

  Tensor x_;  // the forward input (training mode), until backward; 16-bit in bf16 / f16
  DType input_dtype_ = DType::f32;  // of the forward's x, the dtype backward returns dx in
};

}  // namespace minidl
