#include "layers/dropout.h"

#include <cstring>
#include <sstream>

#include "kernels/dropout.h"
#include "kernels/image_layout.h"
#include "layers/init.h"

namespace minidl {

static uint64_t draw_seed() {
  Generator& g = default_generator();
  Philox4 r = philox_block(g.seed(), g.reserve(1));
  return (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
}

Dropout::Dropout(double p) : Dropout(p, draw_seed()) {}

Dropout::Dropout(double p, uint64_t seed) : p_(p) {
  MINIDL_CHECK(p >= 0 && p <= 1, "Dropout: probability ", p, " outside [0, 1]");
  rng_state_ = register_buffer("rng_state", Tensor::zeros({2}, DType::i64), /*random_state=*/true);
  set_generator(Generator(seed));
}

Generator Dropout::generator() const {
  Tensor host = rng_state_->value.to(Device::cpu());  // waits for the device's last reserve
  uint64_t state[2];
  std::memcpy(state, host.data<int64_t>(), sizeof state);
  return Generator(state[0], state[1]);
}

void Dropout::set_generator(const Generator& g) {
  Tensor host = Tensor::empty({2}, DType::i64);
  uint64_t state[2] = {g.seed(), g.offset()};
  std::memcpy(host.data<int64_t>(), state, sizeof state);
  rng_state_->value.copy_(host);
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
    return x;
  }
  Tensor xin = match_layout(x, x);
  Tensor y = empty_like_layout(xin.shape(), xin);
  // This pass's (seed, offset), reserved on the device; backward replays it. The draw tensor is
  // allocated once per device: a captured graph keeps its address.
  if (!draw_.defined() || draw_.device() != xin.device())
    draw_ = Tensor::empty({2}, DType::i64, xin.device());
  dropout_reserve(rng_state_->value, draw_, xin.numel());
  channels_last_ = !xin.is_contiguous();  // the mask follows memory order
  dropout_forward(xin, y, static_cast<float>(p_), draw_);
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
  dropout_backward(d, dx, static_cast<float>(p_), draw_);
  return dx;
}

}  // namespace minidl
