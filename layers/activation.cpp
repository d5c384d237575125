#include "layers/activation.h"

#include <sstream>

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/image_layout.h"
#include "layers/init.h"

namespace minidl {

// ---- ReLU ----

Tensor ReLU::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  Tensor y = inplace_ ? xin : reuse_buffer(y_buf_, xin.shape(), xin);
  relu_forward(xin, y);
  y_ = training() ? y : Tensor();
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  check_cached(y_);
  Tensor y = y_;
  y_ = Tensor();
  Tensor d = match_layout(dy, y);
  Tensor dx = reuse_buffer(dx_buf_, y.shape(), y);
  relu_backward(y, d, dx);
  return dx;
}

// ---- Dropout ----

static uint64_t draw_seed() {
  Generator& g = default_generator();
  Philox4 r = philox_block(g.seed(), g.reserve(1));
  return (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
}

Dropout::Dropout(double p) : Dropout(p, draw_seed()) {}

Dropout::Dropout(double p, uint64_t seed) : p_(p), gen_(seed) {
  MINIDL_CHECK(p >= 0 && p <= 1, "Dropout: probability ", p, " outside [0, 1]");
}

std::string Dropout::options_str() const {
  std::ostringstream os;
  os << "p=" << p_;
  return os.str();
}

Tensor Dropout::forward(const Tensor& x) {
  check_input(x);
  if (!training() || p_ == 0) {
    pending_ = training();
    shape_ = x.shape();
    offset_ = 0;
    return x;
  }
  Tensor xin = match_layout(x, x);
  Tensor y = empty_like_layout(xin.shape(), xin);
  offset_ = gen_.reserve(uniform_counters(xin.numel()));
  channels_last_ = !xin.is_contiguous();  // the mask follows memory order
  dropout_forward(xin, y, static_cast<float>(p_), gen_.seed(), offset_);
  pending_ = true;
  shape_ = x.shape();
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  MINIDL_CHECK(pending_, where(), ": backward without a training-mode forward");
  pending_ = false;
  MINIDL_CHECK(dy.shape() == shape_, where(), ": dy ", shape_str(dy.shape()),
               " does not match the forward's ", shape_str(shape_));
  if (p_ == 0) return dy;
  Tensor d = dy.contiguous(channels_last_ ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  Tensor dx = empty_like_layout(d.shape(), d);
  dropout_backward(d, dx, static_cast<float>(p_), gen_.seed(), offset_);
  return dx;
}

// ---- Flatten ----

Tensor Flatten::forward(const Tensor& x) {
  check_input(x);
  MINIDL_CHECK(x.dim() >= 1, where(), ": cannot flatten a 0-d tensor");
  shape_ = training() ? x.shape() : Shape{};
  int64_t n = x.size(0);
  return x.contiguous().reshape({n, n > 0 ? x.numel() / n : 0});
}

Tensor Flatten::backward(const Tensor& dy) {
  MINIDL_CHECK(!shape_.empty(), where(), ": backward without a training-mode forward");
  Shape s = shape_;
  shape_.clear();
  return dy.contiguous().reshape(s);
}

}  // namespace minidl
