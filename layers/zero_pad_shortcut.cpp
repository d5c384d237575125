#include "layers/zero_pad_shortcut.h"

#include <sstream>

#include "kernels/image_layout.h"
#include "kernels/subsample_pad_channels.h"

namespace minidl {

ZeroPadShortcut::ZeroPadShortcut(int64_t in_channels, int64_t out_channels, int64_t stride,
                                 int64_t front)
    : in_(in_channels), out_(out_channels), stride_(stride), front_(front) {
  MINIDL_CHECK(in_ > 0 && out_ >= in_ && stride_ >= 1 && front_ >= 0 && front_ + in_ <= out_,
               "ZeroPadShortcut: bad channels ", in_, " -> ", out_, ", stride ", stride_,
               ", front ", front_);
}

std::string ZeroPadShortcut::options_str() const {
  std::ostringstream os;
  os << in_ << ", " << out_ << ", stride=" << stride_ << ", front=" << front_;
  return os.str();
}

Tensor ZeroPadShortcut::forward(const Tensor& x) {
  Tensor xin = match_layout(x, x);
  MINIDL_CHECK(xin.dim() == 4 && xin.size(1) == in_, where(), ": expected [N, ", in_,
               ", H, W], got ", shape_str(x.shape()));
  Shape ys{xin.size(0), out_, (xin.size(2) + stride_ - 1) / stride_,
           (xin.size(3) + stride_ - 1) / stride_};
  Tensor y = empty_like_layout(ys, xin);
  subsample_pad_channels_forward(xin, y, stride_, front_);
  if (training()) {
    x_shape_ = xin.shape();
    x_channels_last_ = !xin.is_contiguous();
    x_dtype_ = xin.dtype();
  }
  return y;
}

Tensor ZeroPadShortcut::backward(const Tensor& dy) {
  MINIDL_CHECK(!x_shape_.empty(), where(), ": backward without a training-mode forward");
  Tensor dx =
      Tensor::empty(x_shape_, x_dtype_, dy.device(),
                    x_channels_last_ ? MemoryFormat::channels_last : MemoryFormat::contiguous);
  x_shape_.clear();
  subsample_pad_channels_backward(match_layout(dy, dx).to(x_dtype_), dx, stride_, front_);
  return dx;
}

}  // namespace minidl
