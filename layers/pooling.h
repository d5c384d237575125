// Pooling layers: MaxPool2d, AvgPool2d (PyTorch's options, including ceil_mode for Caffe's
// output sizes) and GlobalAvgPool2d ([N, C, H, W] -> [N, C, 1, 1], torchvision's
// AdaptiveAvgPool2d((1, 1))).
#pragma once

#include "kernels/pool.h"
#include "layers/module.h"

namespace minidl {

// What a pooling backward needs of the forward input: shape, dtype, device, layout (not the data).
struct InputMeta {
  bool valid = false;
  Shape shape;
  DType dtype = DType::f32;
  Device device;
  bool channels_last = false;
  static InputMeta of(const Tensor& x);
  Tensor empty() const;  // a tensor of this shape, dtype, device and layout
};

class MaxPool2d : public Module {
 public:
  // stride < 1 means stride = kernel_size (PyTorch's default).
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                     bool ceil_mode = false);
  explicit MaxPool2d(const PoolParams& p);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string options_str() const override;
  const PoolParams& params() const { return p_; }

 protected:
  void clear_cache() override {
    x_ = InputMeta();
    argmax_ = Tensor();
  }

 private:
  PoolParams p_;
  InputMeta x_;
  Tensor argmax_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  explicit AvgPool2d(const PoolParams& p);
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string options_str() const override;
  const PoolParams& params() const { return p_; }

 protected:
  void clear_cache() override { x_ = InputMeta(); }

 private:
  PoolParams p_;
  InputMeta x_;
};

class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "GlobalAvgPool2d"; }

 protected:
  void clear_cache() override { x_ = InputMeta(); }

 private:
  InputMeta x_;
};

}  // namespace minidl
