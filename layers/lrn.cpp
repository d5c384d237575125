#include "layers/lrn.h"

#include <sstream>

#include "kernels/image_layout.h"

namespace minidl {

LRN::LRN(int64_t local_size, double alpha, double beta, double k, LrnRegion region)
    : LRN(LrnParams{local_size, alpha, beta, k, region}) {}

LRN::LRN(const LrnParams& p) : p_(p) {
  MINIDL_CHECK(p.size >= 1 && p.size % 2 == 1, "LRN: local_size must be odd and positive, got ",
               p.size);
}

std::string LRN::options_str() const {
  std::ostringstream os;
  os << "local_size=" << p_.size << ", alpha=" << p_.alpha << ", beta=" << p_.beta << ", k=" << p_.k
     << ", region="
     << (p_.region == LrnRegion::across_channels ? "across_channels" : "within_channel");
  return os.str();
}

Tensor LRN::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  Tensor y = empty_like_layout(xin.shape(), xin), scale = empty_like_layout(xin.shape(), xin);
  lrn_forward(xin, y, scale, p_);
  if (training()) {
    x_ = xin;
    y_ = y;
    scale_ = scale;
  }
  return y;
}

Tensor LRN::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_, y = y_, scale = scale_;
  clear_cache();
  Tensor dx = empty_like_layout(x.shape(), x);
  lrn_backward(x, y, scale, match_layout(dy, x), dx, p_);
  return dx;
}

}  // namespace minidl
