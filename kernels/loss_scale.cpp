#include "kernels/loss_scale.h"

#include "core/dispatch.h"

namespace minidl {

namespace {
void check_tensor(const char* op, const Tensor& t, const char* name, DType dtype, int64_t numel,
                  const Tensor& state) {
  MINIDL_CHECK(t.defined() && t.dtype() == dtype && t.is_contiguous() &&
                   (numel < 0 || t.numel() == numel),
               op, ": ", name, " must be ", numel < 0 ? "dense " : "", dtype_name(dtype),
               numel < 0 ? std::string() : " [" + std::to_string(numel) + "]", ", got ",
               t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype())
                           : std::string("undefined"));
  check_same_device(op, {&state, &t});
}
}  // namespace

void loss_scale_apply(const Tensor& x, const Tensor& state) {
  check_tensor("loss_scale_apply", state, "state", DType::f64, 2, state);
  check_tensor("loss_scale_apply", x, "x", DType::f32, -1, state);
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(state.device(), loss_scale_apply, x, state);
}

void loss_scale_prepare(const Tensor& state, const Tensor& live) {
  check_tensor("loss_scale_prepare", state, "state", DType::f64, 2, state);
  check_tensor("loss_scale_prepare", live, "live", DType::i32, 4, state);
  MINIDL_DISPATCH(state.device(), loss_scale_prepare, state, live);
}

void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval) {
  check_tensor("loss_scale_update", state, "state", DType::f64, 2, state);
  check_tensor("loss_scale_update", flag, "flag", DType::i32, 1, state);
  MINIDL_CHECK(interval >= 1, "loss_scale_update: growth interval ", interval, ", expected >= 1");
  MINIDL_DISPATCH(state.device(), loss_scale_update, state, flag, interval);
}

Tensor loss_scale_state(double scale, int64_t growth_tracker, Device device) {
  MINIDL_CHECK(scale > 0 && growth_tracker >= 0, "loss_scale_state: scale ", scale,
               " and growth tracker ", growth_tracker, " must be positive and >= 0");
  return Tensor::from_vector<double>({scale, static_cast<double>(growth_tracker)}, {2}).to(device);
}

}  // namespace minidl
