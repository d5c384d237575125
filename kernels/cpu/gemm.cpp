#include "kernels/gemm.h"

#include <cblas.h>

#include <mutex>
#include <vector>

#include "core/parallel.h"

namespace minidl {
namespace cpu {

static CBLAS_TRANSPOSE blas_op(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}
static blasint bi(int64_t v) {  // fits: gemm() checked every size (kernels/gemm.cpp)
  return static_cast<blasint>(v);
}

static void blas_gemm(const GemmArgs& g, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, blas_op(g.trans_a), blas_op(g.trans_b), bi(g.m), bi(g.n), bi(g.k),
              static_cast<float>(g.alpha), a, bi(g.lda), b, bi(g.ldb), static_cast<float>(g.beta),
              c, bi(g.ldc));
}

static void blas_gemm(const GemmArgs& g, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, blas_op(g.trans_a), blas_op(g.trans_b), bi(g.m), bi(g.n), bi(g.k),
              g.alpha, a, bi(g.lda), b, bi(g.ldb), g.beta, c, bi(g.ldc));
}

template <typename T>
static void gemm_typed(const GemmArgs& g, const T* a, const T* b, T* c) {
  for (int64_t i = 0; i < g.batch; ++i) {
    const T* ai = a + i * g.stride_a;
    const T* bi_ = b + i * g.stride_b;
    T* ci = c + i * g.stride_c;
    if (g.k == 0) {  // some BLAS leave C untouched when k = 0; the product is zero, so C = beta * C
      for (int64_t r = 0; r < g.m; ++r)
        for (int64_t col = 0; col < g.n; ++col) {
          T& v = ci[r * g.ldc + col];
          v = g.beta == 0 ? T(0) : static_cast<T>(g.beta) * v;
        }
      continue;
    }
    blas_gemm(g, ai, bi_, ci);
  }
}

// The elements a row-major operand spans: its batches, rows of `ld`, the last row's `cols`.
static int64_t operand_extent(const GemmArgs& g, int64_t rows, int64_t cols, int64_t ld,
                              int64_t stride) {
  if (rows == 0 || cols == 0) return 0;
  return (g.batch - 1) * stride + (rows - 1) * ld + cols;
}

// n 16-bit values of type `dtype` at p, widened to f32 (exact).
static std::vector<float> widened(const void* p, DType dtype, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  visit_activation(dtype, "gemm", [&](auto z) {
    using S = decltype(z);
    const S* s = static_cast<const S*>(p);
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(widen(s[i]));
  });
  return out;
}

void gemm(const GemmArgs& g, DType dtype, const void* a, const void* b, void* c, Stream) {
  static std::once_flag once;  // OpenBLAS uses as many threads as minidl does
  std::call_once(once, [] { openblas_set_num_threads(num_threads()); });
  if (g.m == 0 || g.n == 0) return;
  if (is_16bit_float(dtype)) {  // widened operands, f32 sums: the GPU's GemmEx values
    const std::vector<float> wa = widened(
        a, dtype,
        operand_extent(g, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda, g.stride_a));
    const std::vector<float> wb = widened(
        b, dtype,
        operand_extent(g, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb, g.stride_b));
    gemm_typed(g, wa.data(), wb.data(), static_cast<float*>(c));
    return;
  }
  visit_floating(dtype, "gemm", [&](auto z) {
    using T = decltype(z);
    gemm_typed(g, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(c));
  });
}

}  // namespace cpu
}  // namespace minidl
