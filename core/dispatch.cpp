#include "core/dispatch.h"

namespace minidl {

namespace detail {
void no_cuda_build(const char* op) {
  MINIDL_FAIL(op, ": a CUDA tensor reached a CPU-only build of minidl");
}
}  // namespace detail

void check_defined(const char* op, const Tensor& t, const char* name) {
  MINIDL_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
}

void check_same_shape(const char* op, const Tensor& a, const char* a_name, const Tensor& b,
                      const char* b_name) {
  MINIDL_CHECK(a.shape() == b.shape(), op, ": shape mismatch: ", a_name, " ", shape_str(a.shape()),
               " vs ", b_name, " ", shape_str(b.shape()));
}

void check_same_device(const char* op, const std::vector<const Tensor*>& tensors) {
  for (const Tensor* t : tensors)
    MINIDL_CHECK(t->device() == tensors[0]->device(), op,
                 ": tensors on different devices: ", tensors[0]->device().str(), " and ",
                 t->device().str(), " (", shape_str(tensors[0]->shape()), " and ",
                 shape_str(t->shape()), ")");
}

void check_dtype(const char* op, const Tensor& t, const char* name, DType expected) {
  MINIDL_CHECK(t.dtype() == expected, op, ": ", name, " ", shape_str(t.shape()), " has dtype ",
               dtype_name(t.dtype()), ", expected ", dtype_name(expected));
}

void check_contiguous(const char* op, const Tensor& t, const char* name) {
  MINIDL_CHECK(t.is_contiguous(), op, ": ", name, " ", shape_str(t.shape()),
               " must be contiguous (call .contiguous())");
}

bool same_memory_order(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  if (a.numel() == 0) return true;  // nothing is laid out
  for (int d = 0; d < a.dim(); ++d)
    if (a.size(d) > 1 && a.strides()[d] != b.strides()[d]) return false;
  return true;
}

void check_dim(const char* op, const Tensor& t, const char* name, int dims) {
  MINIDL_CHECK(t.dim() == dims, op, ": ", name, " must be ", dims, "-d, got ",
               shape_str(t.shape()));
}

}  // namespace minidl
