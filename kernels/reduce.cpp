#include "kernels/reduce.h"

#include "kernels/elementwise.h"

namespace minidl {

DimView dim_view(const Tensor& x, int dim) {
  int d = dim < 0 ? dim + x.dim() : dim;
  MINIDL_CHECK(d >= 0 && d < x.dim(), "dimension ", dim, " out of range for ",
               shape_str(x.shape()));
  DimView v{1, x.size(d), 1};
  for (int i = 0; i < d; ++i) v.outer *= x.size(i);
  for (int i = d + 1; i < x.dim(); ++i) v.inner *= x.size(i);
  return v;
}

static void check_reduce_input(const char* op, const Tensor& x) {
  check_defined(op, x, "x");
  MINIDL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": x ", shape_str(x.shape()),
               " has dtype ", dtype_name(x.dtype()), ", expected f32 or f64");
  check_contiguous(op, x, "x");
}

static void check_output(const char* op, const Tensor& x, const Tensor& out, const Shape& shape,
                         DType dtype, const char* name) {
  check_defined(op, out, name);
  MINIDL_CHECK(out.shape() == shape, op, ": ", name, " has shape ", shape_str(out.shape()),
               ", expected ", shape_str(shape), " for x ", shape_str(x.shape()));
  check_dtype(op, out, name, dtype);
  check_contiguous(op, out, name);
  check_same_device(op, {&x, &out});
}

void sum(const Tensor& x, const Tensor& out) {
  check_reduce_input("sum", x);
  check_output("sum", x, out, {1}, x.dtype(), "out");
  MINIDL_DISPATCH(x.device(), sum_all, x, out);
}

void mean(const Tensor& x, const Tensor& out) {
  sum(x, out);
  if (x.numel() > 0) scale(1.0 / static_cast<double>(x.numel()), out, out);
}

void sum_per_channel(const Tensor& x, const Tensor& out) {
  check_reduce_input("sum_per_channel", x);
  MINIDL_CHECK(x.dim() >= 2, "sum_per_channel: x must be [N, C, ...], got ", shape_str(x.shape()));
  check_output("sum_per_channel", x, out, {x.size(1)}, x.dtype(), "out");
  MINIDL_DISPATCH(x.device(), sum_per_channel, x, out);
}

void mean_per_channel(const Tensor& x, const Tensor& out) {
  sum_per_channel(x, out);
  int64_t count = x.size(1) > 0 ? x.numel() / x.size(1) : 0;
  if (count > 0) scale(1.0 / static_cast<double>(count), out, out);
}

void max_along(const Tensor& x, int dim, const Tensor& values, const Tensor& indices) {
  check_reduce_input("max_along", x);
  DimView v = dim_view(x, dim);
  MINIDL_CHECK(v.size > 0, "max_along: dimension ", dim, " of ", shape_str(x.shape()), " is empty");
  Shape out_shape;
  int d = dim < 0 ? dim + x.dim() : dim;
  for (int i = 0; i < x.dim(); ++i)
    if (i != d) out_shape.push_back(x.size(i));
  check_output("max_along", x, values, out_shape, x.dtype(), "values");
  check_output("max_along", x, indices, out_shape, DType::i64, "indices");
  MINIDL_DISPATCH(x.device(), max_along, x, v, values, indices);
}

double sum_value(const Tensor& x) {
  Tensor out = Tensor::empty({1}, x.dtype(), x.device());
  sum(x, out);
  return out.item<double>();
}

double mean_value(const Tensor& x) {
  Tensor out = Tensor::empty({1}, x.dtype(), x.device());
  mean(x, out);
  return out.item<double>();
}

Tensor argmax(const Tensor& x, int dim) {
  Shape s;
  int d = dim < 0 ? dim + x.dim() : dim;
  for (int i = 0; i < x.dim(); ++i)
    if (i != d) s.push_back(x.size(i));
  Tensor values = Tensor::empty(s, x.dtype(), x.device());
  Tensor indices = Tensor::empty(s, DType::i64, x.device());
  max_along(x, dim, values, indices);
  return indices;
}

}  // namespace minidl
