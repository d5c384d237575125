#include "kernels/elementwise.h"

namespace minidl {

static bool is_dense(const Tensor& t) {
  return t.is_contiguous() || (t.dim() == 4 && t.is_contiguous(MemoryFormat::channels_last));
}

void check_elementwise(const char* op, const Tensor& like,
                       const std::vector<const Tensor*>& others) {
  check_defined(op, like, "input");
  const DType t = like.dtype();
  MINIDL_CHECK(t == DType::f32 || t == DType::f64 || is_16bit_float(t), op, ": input ",
               shape_str(like.shape()), " has dtype ", dtype_name(t),
               ", expected f32, f64, bf16 or f16");
  MINIDL_CHECK(is_dense(like), op, ": input ", shape_str(like.shape()),
               " must be dense (contiguous or channels-last)");
  std::vector<const Tensor*> all{&like};
  for (const Tensor* t : others) {
    check_defined(op, *t, "operand");
    check_same_shape(op, like, "input", *t, "operand");
    check_dtype(op, *t, "operand", like.dtype());
    MINIDL_CHECK(same_memory_order(*t, like), op, ": operand ",
                 shape_str(t->shape()), " is laid out differently from the input");
    all.push_back(t);
  }
  check_same_device(op, all);
}

Broadcast broadcast_for(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, b, "b");
  check_dtype(op, b, "b", a.dtype());
  check_same_device(op, {&a, &b});
  Broadcast bc;
  if (b.shape() == a.shape()) {
    MINIDL_CHECK(same_memory_order(b, a), op, ": b ", shape_str(b.shape()),
                 " is laid out differently from a");
    return bc;
  }
  if (b.numel() == 1) {
    bc.mode = Broadcast::scalar;
    return bc;
  }
  if (a.dim() >= 2 && b.dim() == 1 && b.size(0) == a.size(1)) {
    check_contiguous(op, b, "b");
    bc.mode = Broadcast::per_channel;
    bc.channels = a.size(1);
    bool channels_last = a.dim() == 4 && !a.is_contiguous();
    bc.inner = 1;
    if (!channels_last)
      for (int d = 2; d < a.dim(); ++d) bc.inner *= a.size(d);
    return bc;
  }
  MINIDL_FAIL(op, ": cannot broadcast b ", shape_str(b.shape()), " against a ",
              shape_str(a.shape()),
              "; b must have a's shape, [C] with C = a.size(1), or one element");
}

}  // namespace minidl
