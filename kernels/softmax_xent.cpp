#include "kernels/softmax_xent.h"

namespace minidl {

namespace {

void check_tensor(const char* op, const Tensor& like, const Tensor& t, const char* name,
                  const Shape& shape, DType dtype) {
  check_defined(op, t, name);
  MINIDL_CHECK(t.shape() == shape, op, ": ", name, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(shape));
  check_dtype(op, t, name, dtype);
  check_contiguous(op, t, name);
  check_same_device(op, {&like, &t});
}

void check_logits(const char* op, const Tensor& logits, const char* name) {
  check_defined(op, logits, name);
  MINIDL_CHECK(logits.dim() == 2, op, ": ", name, " must be [N, K], got ",
               shape_str(logits.shape()));
  MINIDL_CHECK(logits.dtype() == DType::f32 || logits.dtype() == DType::f64, op, ": ", name, " ",
               shape_str(logits.shape()), " has dtype ", dtype_name(logits.dtype()),
               ", expected f32 or f64");
  check_contiguous(op, logits, name);
  MINIDL_CHECK(logits.size(1) >= 1, op, ": ", name, " ", shape_str(logits.shape()),
               " has no classes");
}

}  // namespace

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing) {
  const char* op = "softmax_xent_forward";
  check_logits(op, logits, "logits");
  const int64_t N = logits.size(0);
  check_tensor(op, logits, labels, "labels", {N}, DType::i64);
  check_tensor(op, logits, probs, "probs", logits.shape(), logits.dtype());
  check_tensor(op, logits, losses, "losses", {N}, logits.dtype());
  check_tensor(op, logits, ranks, "ranks", {N}, DType::i64);
  MINIDL_CHECK(smoothing >= 0 && smoothing <= 1, op, ": label smoothing ", smoothing,
               " outside [0, 1]");
  if (N == 0) return;
  MINIDL_DISPATCH(logits.device(), softmax_xent_forward, logits, labels, probs, losses, ranks,
                  smoothing);
}

void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale) {
  const char* op = "softmax_xent_backward";
  check_logits(op, probs, "probs");
  check_tensor(op, probs, labels, "labels", {probs.size(0)}, DType::i64);
  check_tensor(op, probs, dlogits, "dlogits", probs.shape(), probs.dtype());
  if (probs.numel() == 0) return;
  MINIDL_DISPATCH(probs.device(), softmax_xent_backward, probs, labels, dlogits, smoothing, scale);
}

}  // namespace minidl
