#include <cublas_v2.h>

#include "core/context.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/gemm.h"

namespace minidl {
namespace cuda {

// cuBLAS is column-major. A row-major [m, n] matrix is the column-major [n, m] matrix, so
// C = op(A) op(B) (row-major) is computed as C^T = op(B)^T op(A)^T (column-major): swap the
// operands and m with n; leading dimensions stay the row strides.
void gemm(const GemmArgs& g, const float* a, const float* b, float* c, Stream s) {
  if (g.m == 0 || g.n == 0) return;
  cublasHandle_t h = cublas_handle(s);
  cublasOperation_t opa = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.batch == 1) {
    MINIDL_CUBLAS_CHECK(cublasSgemm(h, opb, opa, static_cast<int>(g.n), static_cast<int>(g.m),
                                    static_cast<int>(g.k), &g.alpha, b, static_cast<int>(g.ldb), a,
                                    static_cast<int>(g.lda), &g.beta, c, static_cast<int>(g.ldc)));
  } else {
    MINIDL_CUBLAS_CHECK(cublasSgemmStridedBatched(
        h, opb, opa, static_cast<int>(g.n), static_cast<int>(g.m), static_cast<int>(g.k), &g.alpha,
        b, static_cast<int>(g.ldb), g.stride_b, a, static_cast<int>(g.lda), g.stride_a, &g.beta, c,
        static_cast<int>(g.ldc), g.stride_c, static_cast<int>(g.batch)));
  }
}

}  // namespace cuda
}  // namespace minidl
