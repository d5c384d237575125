#include "kernels/precision.h"

#include "core/copy.h"

namespace minidl {

void round_to_precision(const Tensor& x, DType precision, const Tensor& out) {
  check_elementwise("round_to_precision", x, {&out});
  MINIDL_CHECK(precision == DType::f32 || precision == DType::bf16 || precision == DType::f16,
               "round_to_precision: precision ", dtype_name(precision),
               ", expected f32, bf16 or f16");
  if (precision == DType::f32) {  // f32 or f64 values are already that precise
    if (out.data_ptr() != x.data_ptr() && x.numel() > 0) copy(out, x);
    return;
  }
  MINIDL_CHECK(x.dtype() == DType::f32, "round_to_precision: input ", shape_str(x.shape()),
               " has dtype ", dtype_name(x.dtype()), ", expected f32");
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), round_to_precision, x, precision, out);
}

DType active_precision(const Tensor& x, DType precision) {
  return x.dtype() == DType::f64 ? DType::f32 : precision;
}

Tensor rounded_to(const Tensor& x, DType precision) {
  if (precision == DType::f32) return x;
  Tensor out = Tensor::empty(x.shape(), DType::f32, x.device(), x.memory_format());
  round_to_precision(x, precision, out);
  return out;
}

void accumulate_rounded(const Tensor& g, DType precision, const Tensor& grad) {
  if (precision != DType::f32) round_to_precision(g, precision, g);
  axpy(1.0, g, grad);
}

DType parse_precision(const std::string& name) {
  if (name == "f32") return DType::f32;
  if (name == "bf16") return DType::bf16;
  if (name == "f16") return DType::f16;
  MINIDL_FAIL("precision '", name, "': expected f32, bf16 or f16");
}

}  // namespace minidl
