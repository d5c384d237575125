#include "kernels/dropout.h"

#include "kernels/elementwise.h"

namespace minidl {

void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  check_elementwise("dropout", x, {&y});
  MINIDL_CHECK(p >= 0.f && p <= 1.f, "dropout: probability ", p, " outside [0, 1]");
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), dropout_apply, x, y, p, seed, offset);
}

}  // namespace minidl
