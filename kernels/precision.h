// Rounding f32 values to a 16-bit float's precision, in f32 storage: the CPU twin of mixed
// precision (`--precision bf16|f16`, docs/precision.md). A convolution or GEMM "in bf16 with f32
// accumulation" reads operands rounded to bf16, sums in f32 and stores its result rounded to bf16;
// rounding the f32 operands and result in place gives exactly those values, with every kernel
// left as it is. core/half.h's conversions do the rounding (to nearest, ties to even; f16
// overflows to infinity and has subnormals), so the CPU and the GPU give identical bits.
#pragma once

#include <string>

#include "core/half.h"
#include "kernels/elementwise.h"

namespace minidl {

// ---- element math (shared by both twins) ----

MINIDL_HD float round_to_bf16_element(float x) {
  return bf16_bits_to_f32(f32_to_bf16_bits(x));
}
MINIDL_HD float round_to_f16_element(float x) {
  return f16_bits_to_f32(f32_to_f16_bits(x));
}

// ---- twins ----

namespace cpu {
void round_to_precision(const Tensor& x, DType precision, const Tensor& out, Stream s);
}  // namespace cpu
namespace cuda {
void round_to_precision(const Tensor& x, DType precision, const Tensor& out, Stream s);
}  // namespace cuda

// ---- the op ----

// out = x rounded to `precision` (bf16 or f16: x must be f32; f32: a copy of an f32 or f64 x).
// x, out: one shape, dtype, device and layout, dense; out may be x.
void round_to_precision(const Tensor& x, DType precision, const Tensor& out);
// What a layer computing in `precision` does with its operands (layers/conv2d.cpp, linear.cpp):
// the precision for input x (`precision` for f32 and 16-bit tensors, f32 for f64 ones: the
// gradient checks are never rounded); x rounded in a new tensor of its layout (x itself for f32); and
// grad += g rounded (g rounded in place).
DType active_precision(const Tensor& x, DType precision);
Tensor rounded_to(const Tensor& x, DType precision);
void accumulate_rounded(const Tensor& g, DType precision, const Tensor& grad);

// The precisions a model computes in: "f32", "bf16" or "f16"; throws naming the value otherwise.
DType parse_precision(const std::string& name);

}  // namespace minidl
