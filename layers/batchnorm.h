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
//
// Synchronised mode (PyTorch's SyncBatchNorm), for data-parallel runs: set_sync(sum) makes
// training-mode statistics those of the global batch (every rank's values), through a CrossRankSum
// that dist/ builds over its communicator (this library does not depend on dist/). Each training
// forward calls it twice (per-channel sums with the value count, then squared deviations; the
// count is read on the host once) and each backward once (sums of dy and dy * xhat; not at all
// when input_grad() is off). Every rank must therefore run the same BatchNorm layers in the same
// order. Running statistics use the global batch (unbiased with the global count); weight.grad and
// bias.grad get this rank's own sums, which the data-parallel gradient average turns into the
// global batch's gradient (Note [sync BN gradients] in batchnorm.cpp). Eval mode is unchanged: no
// communication, and running statistics (or, without them, this rank's batch statistics).
// It is built from existing ops only (sum_per_channel, the element-wise ops,
// batchnorm_forward_eval), so it runs on every device the ordinary path runs on.
//
// Fused ReLU: set_fused_relu(true) makes the layer compute max(bn(x), 0) in its own pass, and its
// backward mask dy by that output first (kernels/batchnorm.h); the ReLU that followed it is then
// a pass-through. layers/fusion.h's fuse_bn_relu() does both for every BatchNorm2d -> ReLU pair
// of a model. The fused layer caches its output as well as its input (the output is alive anyway:
// the next layer keeps it as its input), and its results equal the unfused pair's, bit for bit.
#pragma once

#include <functional>
#include <utility>

#include "layers/module.h"

namespace minidl {

// Sums a small tensor in place over the ranks of a data-parallel run (every rank calls it with the
// same shape, in the same order). dist/ builds one over a Communicator.
using CrossRankSum = std::function<void(const Tensor&)>;

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
  // bf16 / f16 x: y and dx in x's dtype, f32 statistics and math (kernels/batchnorm.h); a
  // synchronised batch norm takes f32 only.
  bool takes_16bit(DType) const override { return !sync_; }
  std::string options_str() const override;
  void init_parameters(const std::string& scheme, Generator& gen) override;

  Parameter* weight() const { return weight_; }  // null when !affine
  Parameter* bias() const { return bias_; }
  Buffer* running_mean() const { return running_mean_; }  // null when !track_running_stats
  Buffer* running_var() const { return running_var_; }
  Buffer* num_batches_tracked() const { return batches_; }
  const BatchNormOptions& options() const { return opts_; }

  // Synchronised statistics in training (see the top of this file); an empty function restores
  // per-rank statistics (the default).
  void set_sync(CrossRankSum sum) { sync_ = std::move(sum); }
  bool synced() const { return static_cast<bool>(sync_); }

  // ReLU applied inside this layer (see the top of this file).
  void set_fused_relu(bool on) { fused_relu_ = on; }
  bool fused_relu() const { return fused_relu_; }

  // Cumulative statistics, for PreciseBN (optim/precise_bn.h): while on, the t-th training batch
  // since it was switched on updates the running statistics with momentum 1 / t, so they become
  // the plain average over those batches (the first replaces them), and num_batches_tracked is
  // left alone (these are not training steps).
  void set_cumulative_statistics(bool on) { cumulative_t_ = on ? 0 : -1; }

 protected:
  void clear_cache() override;
  void on_state_loaded() override;

 private:
  int64_t C_;
  BatchNormOptions opts_;
  Parameter *weight_ = nullptr, *bias_ = nullptr;
  Buffer *running_mean_ = nullptr, *running_var_ = nullptr, *batches_ = nullptr;
  // num_batches_tracked mirrored on the host (no device read per step), for caffe_style's
  // momentum_at(t); PyTorch's form counts on the device alone (count_up).
  int64_t batches_host_ = 0;
  CrossRankSum sync_;
  bool fused_relu_ = false;
  int64_t cumulative_t_ = -1;  // batches averaged since set_cumulative_statistics(true); -1: off
  Tensor x_, save_mean_, save_invstd_;  // training-mode cache, until backward
  Tensor y_;                            // the output, cached by a fused-ReLU training forward
  // Synchronised forward's cache instead of save_invstd_: the global batch's biased variance and
  // its value count per channel (all ranks).
  Tensor save_var_;
  double sync_count_ = 0;

  void forward_synced(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                      double momentum);
  Tensor backward_synced(const Tensor& x, const Tensor& dy, const Tensor& mean, const Tensor& var,
                         double count, const Tensor& relu_y);
};

}  // namespace minidl
