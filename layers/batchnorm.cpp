#include "layers/batchnorm.h"

#include <cmath>
#include <sstream>

#include "core/fill.h"
#include "kernels/batchnorm.h"
#include "kernels/image_layout.h"

namespace minidl {

double BatchNormOptions::momentum_at(int64_t t) const {
  if (!caffe_style) return momentum;
  const double f = moving_average_fraction;
  if (f >= 1.0) return 1.0 / static_cast<double>(t);  // cumulative average
  return (1.0 - f) / (1.0 - std::pow(f, static_cast<double>(t)));
}

BatchNorm2d::BatchNorm2d(int64_t num_features, BatchNormOptions options)
    : C_(num_features), opts_(options) {
  MINIDL_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
  MINIDL_CHECK(opts_.eps >= 0, "BatchNorm2d: negative eps ", opts_.eps);
  MINIDL_CHECK(opts_.caffe_style
                   ? (opts_.moving_average_fraction >= 0 && opts_.moving_average_fraction <= 1)
                   : (opts_.momentum >= 0 && opts_.momentum <= 1),
               "BatchNorm2d: momentum / moving_average_fraction outside [0, 1]");
  if (opts_.affine) {
    weight_ = register_parameter("weight", Tensor::full({C_}, 1.0), true);
    bias_ = register_parameter("bias", Tensor::zeros({C_}), true);
  }
  if (opts_.track_running_stats) {
    running_mean_ = register_buffer("running_mean", Tensor::zeros({C_}));
    running_var_ = register_buffer("running_var", Tensor::full({C_}, 1.0));
    batches_ = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
  }
}

std::string BatchNorm2d::options_str() const {
  std::ostringstream os;
  os << C_ << ", eps=" << opts_.eps;
  if (opts_.caffe_style)
    os << ", moving_average_fraction=" << opts_.moving_average_fraction;
  else
    os << ", momentum=" << opts_.momentum;
  os << ", affine=" << (opts_.affine ? "True" : "False")
     << ", track_running_stats=" << (opts_.track_running_stats ? "True" : "False");
  return os.str();
}

void BatchNorm2d::init_parameters(const std::string&, Generator&) {
  if (weight_) fill(weight_->value, 1.0);
  if (bias_) fill(bias_->value, 0.0);
}

void BatchNorm2d::clear_cache() {
  x_ = save_mean_ = save_invstd_ = Tensor();
}

void BatchNorm2d::on_state_loaded() {
  if (batches_) batches_host_ = batches_->value.item<int64_t>();
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  check_input(x);
  MINIDL_CHECK(x.dim() >= 2 && x.size(1) == C_, where(), ": expected input [N, ", C_,
               ", ...], got ", shape_str(x.shape()));
  Tensor xin = match_layout(x, x);  // dense
  Tensor y = empty_like_layout(xin.shape(), xin);
  const Tensor gamma = weight_ ? weight_->value : Tensor(), beta = bias_ ? bias_->value : Tensor();
  if (!training() && running_mean_) {
    batchnorm_forward_eval(xin, gamma, beta, running_mean_->value, running_var_->value, y,
                           opts_.eps);
    return y;
  }
  double momentum = 0;
  if (training() && running_mean_) {
    ++batches_host_;
    fill(batches_->value, static_cast<double>(batches_host_));
    momentum = opts_.momentum_at(batches_host_);
  }
  Tensor mean = Tensor::empty({C_}, xin.dtype(), xin.device());
  Tensor invstd = Tensor::empty({C_}, xin.dtype(), xin.device());
  const bool update = training() && running_mean_;
  batchnorm_forward_train(xin, gamma, beta, y, mean, invstd,
                          update ? running_mean_->value : Tensor(),
                          update ? running_var_->value : Tensor(), momentum, opts_.eps);
  if (training()) {
    x_ = xin;
    save_mean_ = mean;
    save_invstd_ = invstd;
  }
  return y;
}

Tensor BatchNorm2d::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_, mean = save_mean_, invstd = save_invstd_;
  clear_cache();
  Tensor d = match_layout(dy, x);
  Tensor dx = empty_like_layout(x.shape(), x);
  batchnorm_backward_train(x, d, weight_ ? weight_->value : Tensor(), mean, invstd, dx,
                           weight_ ? weight_->grad : Tensor(), bias_ ? bias_->grad : Tensor());
  return dx;
}

}  // namespace minidl
