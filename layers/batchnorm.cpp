#include "layers/batchnorm.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "core/fill.h"
#include "kernels/batchnorm.h"
#include "kernels/counter.h"
#include "kernels/elementwise.h"
#include "kernels/image_layout.h"
#include "kernels/reduce.h"

namespace minidl {

namespace {

// out = (x - shift) * scale + offset, per channel ([C] each; scale and offset undefined mean 1 and
// 0). batchnorm_forward_eval computes exactly this with var = 0 and eps = 1, since its invstd is
// then 1 / sqrt(0 + 1) = 1 exactly: the synchronised path borrows it instead of adding a kernel
// (every kernel needs a CPU and a CUDA twin).
void channel_shift_scale(const Tensor& x, const Tensor& shift, const Tensor& scale,
                         const Tensor& offset, const Tensor& out) {
  const Tensor zero_var = Tensor::zeros({x.size(1)}, x.dtype(), x.device());
  batchnorm_forward_eval(x, scale, offset, shift, zero_var, out, 1.0);
}

// out [C] = this rank's sum of each channel of x (dense NCHW or channels-last; [N, C], [N, C, L] or
// [N, C, H, W]). sum_per_channel reads a contiguous [N, C, inner] and spreads each channel's work
// over its inner runs; a channels-last x is copied to NCHW first rather than summed as the
// contiguous [N*H*W, C] it is in memory, where inner = 1 would leave both twins walking the rows
// one value at a time (CUDA: one thread per channel). An empty batch still takes part in the
// cross-rank sums, with zeros.
void local_channel_sum(const Tensor& x, const Tensor& out) {
  if (x.numel() == 0) {
    fill(out, 0.0);
    return;
  }
  sum_per_channel(x.contiguous(), out);
}

// The value count travels in the sums' dtype, where f32 holds integers exactly only below 2^24. So
// it travels as two parts, count = hi * kCountBase + lo: each part is exact while its sum over the
// ranks stays below 2^24 (up to 4096 ranks and 2^36 values per channel). A sum of non-negative
// integers whose exact value reaches 2^24 also reads as at least 2^24 (rounding is monotone and
// 2^24 is representable), so checking the received parts is enough.
constexpr int64_t kCountBase = int64_t{1} << 12;
constexpr double kExactF32 = 16777216.0;  // 2^24

}  // namespace

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
  x_ = save_mean_ = save_invstd_ = save_var_ = y_ = Tensor();
  sync_count_ = 0;
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
                           opts_.eps, fused_relu_);
    return y;
  }
  double momentum = 0;
  if (training() && running_mean_ && cumulative_t_ >= 0) {
    momentum = 1.0 / static_cast<double>(++cumulative_t_);
  } else if (training() && running_mean_ && opts_.caffe_style) {
    ++batches_host_;  // the momentum depends on the count: counted on the host, written down
    fill(batches_->value, static_cast<double>(batches_host_));
    momentum = opts_.momentum_at(batches_host_);
  } else if (training() && running_mean_) {
    count_up(batches_->value);  // on the device, so that a replayed CUDA graph counts too
    momentum = opts_.momentum;
  }
  if (training() && sync_) {
    forward_synced(xin, gamma, beta, y, momentum);
    y_ = fused_relu_ ? y : Tensor();
    return y;
  }
  Tensor mean = Tensor::empty({C_}, math_dtype(xin.dtype()), xin.device());
  Tensor invstd = Tensor::empty({C_}, math_dtype(xin.dtype()), xin.device());
  const bool update = training() && running_mean_;
  batchnorm_forward_train(
      xin, gamma, beta, y, mean, invstd, update ? running_mean_->value : Tensor(),
      update ? running_var_->value : Tensor(), momentum, opts_.eps, fused_relu_);
  if (training()) {
    x_ = xin;
    save_mean_ = mean;
    save_invstd_ = invstd;
    save_var_ = Tensor();  // a synchronised forward's, if sync was switched off before backward
    y_ = fused_relu_ ? y : Tensor();
  }
  return y;
}

Tensor BatchNorm2d::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_, mean = save_mean_, invstd = save_invstd_, var = save_var_, y = y_;
  const double count = sync_count_;
  clear_cache();
  Tensor d = match_layout(dy, x).to(x.dtype());  // an f32 dy for a 16-bit y, say
  // The forward's path decides, not the current settings: save_var_ is cached only by a
  // synchronised forward, y_ only by a fused-ReLU one.
  if (var.defined()) return backward_synced(x, d, mean, var, count, y);
  Tensor dx = empty_like_layout(x.shape(), x);
  batchnorm_backward_train(x, d, weight_ ? weight_->value : Tensor(), mean, invstd, dx,
                           weight_ ? weight_->grad : Tensor(), bias_ ? bias_->grad : Tensor(), y);
  return dx;
}

// Synchronised forward: the statistics of the global batch, from two cross-rank sums.
void BatchNorm2d::forward_synced(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& y, double momentum) {
  channel_view("BatchNorm2d", x);  // throws on a bad input before any rank waits in a sum
  const DType dt = x.dtype();
  const Device dev = x.device();

  // 1. Mean: per-channel sums and the value count, summed over the ranks in one call. The layer
  // does not know the world size (and ranks' batches may differ), so the count is summed too and
  // read on the host: 1/N and N/(N-1) are host scalars of the element-wise ops. That one small
  // device-to-host read per forward is the price of this path.
  Tensor packed = Tensor::empty({C_ + 2}, dt, dev);
  local_channel_sum(x, packed.narrow(0, 0, C_));
  const int64_t m = x.numel() / C_;  // values per channel on this rank
  fill(packed.narrow(0, C_, 1), static_cast<double>(m % kCountBase));
  fill(packed.narrow(0, C_ + 1, 1), static_cast<double>(m / kCountBase));
  sync_(packed);
  const std::vector<double> parts = packed.narrow(0, C_, 2).to_vector<double>();
  MINIDL_CHECK(parts[0] < kExactF32 && parts[1] < kExactF32, where(),
               ": too many values per channel over all ranks for an exact count (parts ", parts[0],
               ", ", parts[1], ")");
  const double count = parts[1] * static_cast<double>(kCountBase) + parts[0];
  MINIDL_CHECK(count > 1, where(),
               ": expected more than 1 value per channel over all ranks in training, got ", count);
  Tensor mean = Tensor::empty({C_}, dt, dev);
  scale(1.0 / count, packed.narrow(0, 0, C_), mean);

  // 2. Biased variance from the centred values (two passes, as precise as the per-rank path's
  // shifted sums).
  Tensor sq = empty_like_layout(x.shape(), x);
  channel_shift_scale(x, mean, Tensor(), Tensor(), sq);
  mul(sq, sq, sq);
  Tensor var = Tensor::empty({C_}, dt, dev);
  local_channel_sum(sq, var);
  sync_(var);
  scale(1.0 / count, var, var);

  // 3. Normalise, as in eval mode but with the global batch's statistics (and the fused ReLU).
  batchnorm_forward_eval(x, gamma, beta, mean, var, y, opts_.eps, fused_relu_);

  // 4. Running statistics, bn_running_update's formula (unbiased variance, the global count), on
  // the device: no further host read.
  if (running_mean_) {
    const Tensor &rm = running_mean_->value, &rv = running_var_->value;
    scale(1.0 - momentum, rm, rm);
    axpy(momentum, mean, rm);
    scale(1.0 - momentum, rv, rv);
    axpy(momentum * count / (count - 1.0), var, rv);
  }
  x_ = x;
  save_mean_ = mean;
  save_var_ = var;
  save_invstd_ = Tensor();
  sync_count_ = count;
}

// Note [sync BN gradients]
// With R ranks of B values each (global N = R*B), rank r's loss averages its own batch, so its
// dy is R times the single-process dy of the global batch for the same values. Then:
//  - dx needs the GLOBAL sums of dy and dy * xhat: dx = gamma * invstd * (dy - sum(dy)/N -
//    xhat * sum(dy * xhat)/N), which is R times the single-process dx of this rank's rows, exactly
//    as every other layer's dx on this rank is.
//  - weight.grad and bias.grad get this rank's OWN sums (R times its rows' share of the
//    single-process gradient); the data-parallel average over the R ranks then gives the sum of
//    the shares, the single-process gradient. Summing them over ranks here as well would count
//    every other rank's share twice. PyTorch's SyncBatchNorm does the same.
Tensor BatchNorm2d::backward_synced(const Tensor& x, const Tensor& dy_in, const Tensor& mean,
                                    const Tensor& var, double count, const Tensor& relu_y) {
  const DType dt = x.dtype();
  const Device dev = x.device();
  // A fused ReLU's mask first, as the unfused ReLU's backward would have applied it.
  Tensor dy = dy_in;
  if (relu_y.defined()) {
    dy = empty_like_layout(x.shape(), x);
    relu_backward(relu_y, dy_in, dy);
  }
  Tensor xhat = empty_like_layout(x.shape(), x);
  batchnorm_forward_eval(x, Tensor(), Tensor(), mean, var, xhat, opts_.eps);  // (x - mean)*invstd
  Tensor sums = Tensor::empty({2 * C_}, dt, dev);  // [sum(dy), sum(dy * xhat)], one call to sync_
  Tensor sum_dy = sums.narrow(0, 0, C_), sum_dy_xhat = sums.narrow(0, C_, C_);
  Tensor work = empty_like_layout(x.shape(), x);
  local_channel_sum(dy, sum_dy);
  mul(dy, xhat, work);
  local_channel_sum(work, sum_dy_xhat);
  if (weight_) axpy(1.0, sum_dy_xhat, weight_->grad);
  if (bias_) axpy(1.0, sum_dy, bias_->grad);
  // Every rank has the same setting (same model), so skipping the sum here keeps them in step.
  if (!input_grad()) return Tensor();

  sync_(sums);
  scale(-1.0 / count, sums, sums);  // -mean(dy), -mean(dy * xhat) over the global batch
  // work = dy - xhat * mean(dy * xhat) - mean(dy), then dx = gamma * invstd * work (the forward's
  // invstd, from the same var and eps).
  const Tensor zeros = Tensor::zeros({C_}, dt, dev);
  channel_shift_scale(xhat, zeros, sum_dy_xhat, sum_dy, work);
  add(work, dy, work);
  Tensor dx = xhat;  // xhat is not needed any more: its memory takes dx
  batchnorm_forward_eval(work, weight_ ? weight_->value : Tensor(), Tensor(), zeros, var, dx,
                         opts_.eps);
  return dx;
}

}  // namespace minidl
