#include "kernels/lrn.h"

#include "kernels/elementwise.h"

namespace minidl {

static ImageLayout check_lrn(const char* op, const Tensor& x,
                             const std::vector<const Tensor*>& rest, const LrnParams& p) {
  ImageLayout l = image_layout(op, x, "x");
  check_elementwise(op, x, rest);  // dtype f32/f64, shape, device, same layout
  MINIDL_CHECK(p.size >= 1 && p.size % 2 == 1, op, ": local_size must be odd and positive, got ",
               p.size);
  MINIDL_CHECK(p.k > 0 || p.alpha > 0, op, ": k and alpha cannot both be zero");
  return l;
}

void lrn_forward(const Tensor& x, const Tensor& y, const Tensor& scale, const LrnParams& p) {
  ImageLayout l = check_lrn("lrn_forward", x, {&y, &scale}, p);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), lrn_forward, x, y, scale, l, p);
}

void lrn_backward(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& dy,
                  const Tensor& dx, const LrnParams& p) {
  ImageLayout l = check_lrn("lrn_backward", x, {&y, &scale, &dy, &dx}, p);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), lrn_backward, x, y, scale, dy, dx, l, p);
}

}  // namespace minidl
