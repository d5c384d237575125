// GEMM: C = alpha * op(A) @ op(B) + beta * C over row-major f32 matrices, optionally a strided
// batch. CPU: OpenBLAS sgemm; CUDA: cuBLAS (row-major computed as the column-major product B^T
// A^T).
#pragma once

#include "kernels/dispatch.h"

namespace minidl {

// One (batched) product. Row-major: A is [m, k] (or [k, m] when trans_a) with leading dimension lda
// (the row stride), B is [k, n] (or [n, k]), C is [m, n]; batch i offsets A, B, C by i * stride_*.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.f, beta = 0.f;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

namespace cpu {
void gemm(const GemmArgs& g, const float* a, const float* b, float* c, Stream s);
}
namespace cuda {
void gemm(const GemmArgs& g, const float* a, const float* b, float* c, Stream s);
}

// On raw pointers of `device` (for layers working on slices of their buffers).
inline void gemm(Device device, const GemmArgs& g, const float* a, const float* b, float* c) {
  MINIDL_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 1, "gemm: bad sizes m=", g.m,
               " n=", g.n, " k=", g.k, " batch=", g.batch);
  MINIDL_DISPATCH(device, gemm, g, a, b, c);
}

// On tensors: A, B, C contiguous f32, all 2-d ([m, k] / [k, n] / [m, n], transposes applied) or all
// 3-d with a common batch size.
void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
          const Tensor& c);

// Returns op(A) @ op(B) as a new tensor.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

}  // namespace minidl
