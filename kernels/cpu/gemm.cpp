#include "kernels/gemm.h"

#include <cblas.h>

#include <mutex>

#include "core/parallel.h"

namespace minidl {
namespace cpu {

void gemm(const GemmArgs& g, const float* a, const float* b, float* c, Stream) {
  static std::once_flag once;  // OpenBLAS uses as many threads as minidl does
  std::call_once(once, [] { openblas_set_num_threads(num_threads()); });
  if (g.m == 0 || g.n == 0) return;
  for (int64_t i = 0; i < g.batch; ++i) {
    const float* ai = a + i * g.stride_a;
    const float* bi = b + i * g.stride_b;
    float* ci = c + i * g.stride_c;
    if (g.k == 0) {  // BLAS leaves C untouched when k = 0; the product is zero, so C = beta * C
      for (int64_t r = 0; r < g.m; ++r)
        for (int64_t col = 0; col < g.n; ++col) {
          float& v = ci[r * g.ldc + col];
          v = g.beta == 0.f ? 0.f : g.beta * v;
        }
      continue;
    }
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                g.trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(g.m),
                static_cast<blasint>(g.n), static_cast<blasint>(g.k), g.alpha, ai,
                static_cast<blasint>(g.lda), bi, static_cast<blasint>(g.ldb), g.beta, ci,
                static_cast<blasint>(g.ldc));
  }
}

}  // namespace cpu
}  // namespace minidl
