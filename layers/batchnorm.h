// BatchNorm2d, PyTorch's layer: parameters "weight" (gamma, 1) and "bias" (beta, 0), both
// is_bias_or_norm; buffers "running_mean" (0), "running_var" (1) and "num_batches_tracked" (i64,
// 0-d), as torchvision names them. Training: batch statistics (biased variance normalises, the
// unbiased one updates running_var); eval: running statistics. Accepts [N, C, H, W] (NCHW or
// channels-last) and also [N, C] / [N, C, L] (BatchNorm1d's inputs).
//
// Running statistics, two conventions:
//  - PyTorch: running = (1 - momentum) running + momentum batch (momentum 0.1).
//  - Caffe: moving_average_fraction f (Caffe's default 0.999; the paper uses 0.9). Caffe keeps
//    unnormalised sums S_t = f S_{t-1} + 1, M_t = f M_{t-1} + batch_t and uses M_t / S_t. That is
//    exactly the PyTorch update with momentum_t = 1 / S_t = (1 - f) / (1 - f^t), t =
//    num_batches_tracked after the update (so the first batch replaces the initial values, and the
//    weight tends to 1 - f). f = 1 gives the cumulative average (PyTorch's momentum=None).
#pragma once

#include "layers/module.h"

namespace minidl {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;  // PyTorch convention (used unless caffe_style)
  bool caffe_style = false;
  double moving_average_fraction = 0.999;  // Caffe convention (used when caffe_style)
  bool affine = true;                      // learn weight and bias
  bool track_running_stats = true;         // false: batch statistics in eval mode too, no buffers

  static BatchNormOptions pytorch(double momentum = 0.1, double eps = 1e-5) {
    BatchNormOptions o;
    o.momentum = momentum;
    o.eps = eps;
    return o;
  }
  static BatchNormOptions caffe(double moving_average_fraction = 0.999, double eps = 1e-5) {
    BatchNormOptions o;
    o.caffe_style = true;
    o.moving_average_fraction = moving_average_fraction;
    o.eps = eps;
    return o;
  }
  // The momentum of the t-th training batch (t >= 1) under these options.
  double momentum_at(int64_t t) const;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions options = {});

  Tensor forward(const Tensor& x) override;
  Tensor backward(
      const Tensor& dy) override;  // dx; weight.grad += sum(dy*xhat), bias.grad += sum(dy)
  std::string type_name() const override { return "BatchNorm2d"; }
  std::string options_str() const override;
  void init_parameters(const std::string& scheme, Generator& gen) override;

  Parameter* weight() const { return weight_; }  // null when !affine
  Parameter* bias() const { return bias_; }
  Buffer* running_mean() const { return running_mean_; }  // null when !track_running_stats
  Buffer* running_var() const { return running_var_; }
  Buffer* num_batches_tracked() const { return batches_; }
  const BatchNormOptions& options() const { return opts_; }

 protected:
  void clear_cache() override;
  void on_state_loaded() override;

 private:
  int64_t C_;
  BatchNormOptions opts_;
  Parameter *weight_ = nullptr, *bias_ = nullptr;
  Buffer *running_mean_ = nullptr, *running_var_ = nullptr, *batches_ = nullptr;
  int64_t batches_host_ = 0;  // num_batches_tracked, mirrored on the host (no device read per step)
  Tensor x_, save_mean_, save_invstd_;  // training-mode cache, until backward
};

}  // namespace minidl
