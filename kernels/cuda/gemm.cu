#include <cublas_v2.h>

#include "core/context.h"
#include "core/cuda/launch.cuh"
#include "kernels/gemm.h"

namespace minidl {
namespace cuda {

static int ci(int64_t v) {  // fits: gemm() checked every size (kernels/gemm.cpp)
  return static_cast<int>(v);
}

// cuBLAS is column-major. A row-major [m, n] matrix is the column-major [n, m] matrix, so
// C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T (column-major): swap the
// operands and m with n; leading dimensions stay the row strides.
static void cublas_gemm(cublasHandle_t h, const GemmArgs& g, const float* a, const float* b,
                        float* c) {
  cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
  if (g.batch == 1)
    MINIDL_CUBLAS_CHECK(cublasSgemm(h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &alpha, b, ci(g.ldb), a,
                                    ci(g.lda), &beta, c, ci(g.ldc)));
  else
    MINIDL_CUBLAS_CHECK(cublasSgemmStridedBatched(h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &alpha, b,
                                                  ci(g.ldb), g.stride_b, a, ci(g.lda), g.stride_a,
                                                  &beta, c, ci(g.ldc), g.stride_c, ci(g.batch)));
}

static void cublas_gemm(cublasHandle_t h, const GemmArgs& g, const double* a, const double* b,
                        double* c) {
  cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.batch == 1)
    MINIDL_CUBLAS_CHECK(cublasDgemm(h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &g.alpha, b, ci(g.ldb),
                                    a, ci(g.lda), &g.beta, c, ci(g.ldc)));
  else
    MINIDL_CUBLAS_CHECK(cublasDgemmStridedBatched(
        h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &g.alpha, b, ci(g.ldb), g.stride_b, a, ci(g.lda),
        g.stride_a, &g.beta, c, ci(g.ldc), g.stride_c, ci(g.batch)));
}

// bf16 / f16 A and B, f32 C and f32 compute (the tensor cores' 16-bit rate; cuBLAS picks the
// algorithm, so sums may run in another order than the CPU twin's sgemm).
static void cublas_gemm_16bit(cublasHandle_t h, const GemmArgs& g, DType dtype, const void* a,
                              const void* b, float* c) {
  cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t t = dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
  if (g.batch == 1)
    MINIDL_CUBLAS_CHECK(cublasGemmEx(h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &alpha, b, t,
                                     ci(g.ldb), a, t, ci(g.lda), &beta, c, CUDA_R_32F, ci(g.ldc),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  else
    MINIDL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, opb, opa, ci(g.n), ci(g.m), ci(g.k), &alpha, b, t, ci(g.ldb), g.stride_b, a, t,
        ci(g.lda), g.stride_a, &beta, c, CUDA_R_32F, ci(g.ldc), g.stride_c, ci(g.batch),
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void gemm(const GemmArgs& g, DType dtype, const void* a, const void* b, void* c, Stream s) {
  if (g.m == 0 || g.n == 0) return;
  cublasHandle_t h = cublas_handle(s);
  if (is_16bit_float(dtype)) return cublas_gemm_16bit(h, g, dtype, a, b, static_cast<float*>(c));
  visit_floating(dtype, "gemm", [&](auto z) {
    using T = decltype(z);
    cublas_gemm(h, g, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(c));
  });
}

}  // namespace cuda
}  // namespace minidl
