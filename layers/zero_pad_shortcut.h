// ZeroPadShortcut: the ResNet paper's option A shortcut, x[:, :, ::s, ::s] followed by zero
// channels (kernels/subsample_pad_channels.h). No parameters; both layouts.
#pragma once

#include "layers/module.h"

namespace minidl {

class ZeroPadShortcut : public Module {
 public:
  // front: zero channels before x's (default 0: all zeros after, as fb.resnet.torch; use
  // (out - in) / 2 for the F.pad(..., (0, 0, 0, 0, p, p)) of the common PyTorch CIFAR ResNets).
  ZeroPadShortcut(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t front = 0);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "ZeroPadShortcut"; }
  bool takes_16bit(DType) const override { return true; }
  std::string options_str() const override;

 protected:
  void clear_cache() override { x_shape_.clear(); }

 private:
  int64_t in_, out_, stride_, front_;
  Shape x_shape_;
  bool x_channels_last_ = false;
  DType x_dtype_ = DType::f32;  // of x, the dtype of dx
};

}  // namespace minidl
