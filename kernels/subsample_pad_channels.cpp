#include "kernels/subsample_pad_channels.h"

namespace minidl {

static SubsamplePad check_subsample_pad(const char* op, const Tensor& x, const Tensor& y,
                                        int64_t stride, int64_t front) {
  SubsamplePad p{image_layout(op, x, "x"), image_layout(op, y, "y"), stride, front};
  MINIDL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64 || is_16bit_float(x.dtype()), op,
               ": x has dtype ", dtype_name(x.dtype()), ", expected f32, f64, bf16 or f16");
  check_dtype(op, y, "y", x.dtype());
  check_same_device(op, {&x, &y});
  MINIDL_CHECK(stride >= 1, op, ": stride must be positive, got ", stride);
  MINIDL_CHECK(p.x.channels_last == p.y.channels_last || x.numel() <= 1, op,
               ": x and y must share one layout");
  MINIDL_CHECK(p.y.N == p.x.N && p.y.H == (p.x.H + stride - 1) / stride &&
                   p.y.W == (p.x.W + stride - 1) / stride && front >= 0 && front + p.x.C <= p.y.C,
               op, ": y ", shape_str(y.shape()), " does not fit x ", shape_str(x.shape()),
               " with stride ", stride, " and front ", front);
  return p;
}

void subsample_pad_channels_forward(const Tensor& x, const Tensor& y, int64_t stride,
                                    int64_t front) {
  SubsamplePad p = check_subsample_pad("subsample_pad_channels_forward", x, y, stride, front);
  if (y.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), subsample_pad_channels, x, y, p, /*backward=*/false);
}

void subsample_pad_channels_backward(const Tensor& dy, const Tensor& dx, int64_t stride,
                                     int64_t front) {
  SubsamplePad p = check_subsample_pad("subsample_pad_channels_backward", dx, dy, stride, front);
  if (dx.numel() == 0) return;
  MINIDL_DISPATCH(dx.device(), subsample_pad_channels, dy, dx, p, /*backward=*/true);
}

}  // namespace minidl
