// GEMM: C = alpha * op(A) @ op(B) + beta * C over row-major f32 (or f64) matrices, optionally a
// strided batch. CPU: OpenBLAS sgemm/dgemm; CUDA: cuBLAS (row-major is computed as the column-major
// product B^T A^T).
//
// Mixed precision (docs/precision.md): A and B bf16 (or f16) with an f32 C: the products summed in
// f32, C written in f32 (no rounding here; Linear rounds after adding its bias). CUDA: cublasGemmEx
// with f32 compute, which runs on the tensor cores; CPU: A and B widened to f32 (exact), then sgemm:
// the values of an f32 GEMM over the operands rounded in f32 storage, bit for bit.
#pragma once

#include "core/dispatch.h"

namespace minidl {

// One (batched) product. Row-major: A is [m, k] (or [k, m] when trans_a) with leading dimension lda
// (the row stride), B is [k, n] (or [n, k]), C is [m, n]; batch i offsets A, B, C by i * stride_*.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1.0, beta = 0.0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// a, b point to `dtype` elements (f32, f64, bf16 or f16), c to `dtype` ones, or to f32 ones for
// bf16 / f16 (math_dtype).
namespace cpu {
void gemm(const GemmArgs& g, DType dtype, const void* a, const void* b, void* c, Stream s);
}
namespace cuda {
void gemm(const GemmArgs& g, DType dtype, const void* a, const void* b, void* c, Stream s);
}

// On raw pointers of `device` (for layers working on slices of their buffers).
void gemm(Device device, const GemmArgs& g, const float* a, const float* b, float* c);
void gemm(Device device, const GemmArgs& g, const double* a, const double* b, double* c);

// On tensors: A, B, C contiguous, A and B of one dtype (f32, f64, bf16 or f16) and C of its
// math_dtype (f32 for 16-bit A and B), all 2-d ([m, k] / [k, n] / [m, n], transposes applied) or
// all 3-d with a common batch size.
void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          const Tensor& c);

// Returns op(A) @ op(B) as a new tensor.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

}  // namespace minidl
