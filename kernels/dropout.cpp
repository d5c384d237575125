#include "kernels/dropout.h"

#include "kernels/elementwise.h"

namespace minidl {

namespace {
void check_pair(const char* op, const Tensor& t, const char* name, const Tensor& like) {
  MINIDL_CHECK(t.defined() && t.dtype() == DType::i64 && t.numel() == 2 && t.is_contiguous(), op,
               ": ", name, " must be i64 [2] (seed, offset), got ",
               t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype())
                           : std::string("undefined"));
  check_same_device(op, {&like, &t});
}
}  // namespace

void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw) {
  check_elementwise("dropout", x, {&y});
  MINIDL_CHECK(p >= 0.f && p <= 1.f, "dropout: probability ", p, " outside [0, 1]");
  check_pair("dropout", draw, "draw", x);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), dropout_apply, x, y, p, draw);
}

void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset) {
  Tensor draw = Tensor::empty({2}, DType::i64);
  draw.data<int64_t>()[0] = static_cast<int64_t>(seed);
  draw.data<int64_t>()[1] = static_cast<int64_t>(offset);
  dropout_apply(x, y, p, draw.to(x.device()));
}

void dropout_reserve(const Tensor& state, const Tensor& draw, int64_t n) {
  check_pair("dropout_reserve", state, "state", state);
  check_pair("dropout_reserve", draw, "draw", state);
  MINIDL_CHECK(n >= 0, "dropout_reserve: ", n, " elements");
  MINIDL_DISPATCH(state.device(), dropout_reserve, state, draw, uniform_counters(n));
}

}  // namespace minidl
