#include "kernels/gemm.h"

namespace minidl {

// Both twins hand the sizes to a BLAS that takes 32-bit ints (OpenBLAS's cblas, cuBLAS's
// non-_64 calls): they are checked here, once, so the twins' narrowing casts never wrap.
static void check_sizes(const GemmArgs& g) {
  MINIDL_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0 && g.batch >= 1, "gemm: bad sizes m=", g.m,
               " n=", g.n, " k=", g.k, " batch=", g.batch);
  to_int32(g.m, "gemm: m");
  to_int32(g.n, "gemm: n");
  to_int32(g.k, "gemm: k");
  to_int32(g.lda, "gemm: lda");
  to_int32(g.ldb, "gemm: ldb");
  to_int32(g.ldc, "gemm: ldc");
  to_int32(g.batch, "gemm: batch");
}

void gemm(Device device, const GemmArgs& g, const float* a, const float* b, float* c) {
  check_sizes(g);
  MINIDL_DISPATCH(device, gemm, g, DType::f32, a, b, c);
}

void gemm(Device device, const GemmArgs& g, const double* a, const double* b, double* c) {
  check_sizes(g);
  MINIDL_DISPATCH(device, gemm, g, DType::f64, a, b, c);
}

void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
          const Tensor& c) {
  const char* op = "gemm";
  for (const Tensor* t : {&a, &b, &c}) {
    check_defined(op, *t, "operand");
    check_contiguous(op, *t, "operand");
  }
  MINIDL_CHECK(a.dtype() == DType::f32 || a.dtype() == DType::f64 || is_16bit_float(a.dtype()), op,
               ": A ", shape_str(a.shape()), " has dtype ", dtype_name(a.dtype()),
               ", expected f32, f64, bf16 or f16");
  check_dtype(op, b, "B", a.dtype());
  check_dtype(op, c, "C", math_dtype(a.dtype()));
  check_same_device(op, {&a, &b, &c});
  int dims = a.dim();
  MINIDL_CHECK((dims == 2 || dims == 3) && b.dim() == dims && c.dim() == dims, op,
               ": A, B, C must all be 2-d or all 3-d, got ", shape_str(a.shape()), ", ",
               shape_str(b.shape()), ", ", shape_str(c.shape()));
  GemmArgs g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = trans_a ? a.size(-1) : a.size(-2);
  g.k = trans_a ? a.size(-2) : a.size(-1);
  g.n = trans_b ? b.size(-2) : b.size(-1);
  int64_t kb = trans_b ? b.size(-1) : b.size(-2);
  MINIDL_CHECK(kb == g.k && c.size(-2) == g.m && c.size(-1) == g.n, op,
               ": shapes do not multiply: A ", shape_str(a.shape()), (trans_a ? "^T" : ""), " B ",
               shape_str(b.shape()), (trans_b ? "^T" : ""), " C ", shape_str(c.shape()));
  g.alpha = alpha;
  g.beta = beta;
  g.lda = a.size(-1);
  g.ldb = b.size(-1);
  g.ldc = c.size(-1);
  if (dims == 3) {
    MINIDL_CHECK(a.size(0) == b.size(0) && a.size(0) == c.size(0), op,
                 ": batch sizes differ: ", shape_str(a.shape()), ", ", shape_str(b.shape()), ", ",
                 shape_str(c.shape()));
    g.batch = a.size(0);
    g.stride_a = a.size(1) * a.size(2);
    g.stride_b = b.size(1) * b.size(2);
    g.stride_c = c.size(1) * c.size(2);
  }
  if (g.batch == 0) return;
  check_sizes(g);
  MINIDL_DISPATCH(a.device(), gemm, g, a.dtype(), a.data_ptr(), b.data_ptr(), c.data_ptr());
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  MINIDL_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: 2-d operands expected, got ",
               shape_str(a.shape()), " and ", shape_str(b.shape()));
  Tensor c = Tensor::empty({trans_a ? a.size(1) : a.size(0), trans_b ? b.size(0) : b.size(1)},
                           a.dtype(), a.device());
  gemm(trans_a, trans_b, 1.f, a, b, 0.f, c);
  return c;
}

}  // namespace minidl
