#include "kernels/pool.h"

namespace minidl {

namespace {

void check_float_image(const char* op, const Tensor& t, const char* name) {
  check_defined(op, t, name);
  MINIDL_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": ", name, " ",
               shape_str(t.shape()), " has dtype ", dtype_name(t.dtype()), ", expected f32 or f64");
}

// t: `shape`, `dtype`, on `like`'s device, dense in the layout `cl` says.
void check_output(const char* op, const Tensor& like, const Tensor& t, const char* name,
                  const Shape& shape, DType dtype, bool cl) {
  check_defined(op, t, name);
  MINIDL_CHECK(t.shape() == shape, op, ": ", name, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(shape));
  check_dtype(op, t, name, dtype);
  check_same_device(op, {&like, &t});
  bool ok = cl ? t.is_contiguous(MemoryFormat::channels_last) : t.is_contiguous();
  MINIDL_CHECK(ok, op, ": ", name, " ", shape_str(t.shape()), " must be ",
               cl ? "channels-last" : "contiguous", " like the input");
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode) {
  MINIDL_CHECK(kernel >= 1 && stride >= 1 && pad >= 0, "pooling: bad kernel ", kernel, ", stride ",
               stride, " or padding ", pad);
  MINIDL_CHECK(pad <= kernel / 2, "pooling: padding ", pad, " is more than half the kernel ",
               kernel);
  MINIDL_CHECK(in + 2 * pad >= kernel, "pooling: input size ", in, " with padding ", pad,
               " is smaller than the kernel ", kernel);
  int64_t out = (in + 2 * pad - kernel + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  // The last window must start inside the input or its left padding (PyTorch, Caffe).
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  MINIDL_CHECK(out >= 1, "pooling: input size ", in, " gives an empty output");
  return out;
}

PoolGeometry pool_geometry(const char* op, const Tensor& x, const PoolParams& p) {
  check_float_image(op, x, "x");
  PoolGeometry g{};
  g.in = image_layout(op, x, "x");
  g.KH = p.kernel_h, g.KW = p.kernel_w, g.SH = p.stride_h, g.SW = p.stride_w;
  g.PH = p.pad_h, g.PW = p.pad_w;
  g.count_include_pad = p.count_include_pad;
  g.out = g.in;
  g.out.H = pool_output_size(g.in.H, g.KH, g.SH, g.PH, p.ceil_mode);
  g.out.W = pool_output_size(g.in.W, g.KW, g.SW, g.PW, p.ceil_mode);
  return g;
}

void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolParams& p) {
  const char* op = kind == PoolKind::max ? "max_pool2d_forward" : "avg_pool2d_forward";
  PoolGeometry g = pool_geometry(op, x, p);
  Shape ys{g.out.N, g.out.C, g.out.H, g.out.W};
  check_output(op, x, y, "y", ys, x.dtype(), g.in.channels_last);
  if (kind == PoolKind::max && argmax.defined())
    check_output(op, x, argmax, "argmax", ys, DType::i32, g.in.channels_last);
  if (y.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), pool2d_forward, kind, x, y, argmax, g);
}

void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolParams& p) {
  const char* op = kind == PoolKind::max ? "max_pool2d_backward" : "avg_pool2d_backward";
  check_float_image(op, dx, "dx");
  PoolGeometry g = pool_geometry(op, dx, p);  // the geometry of the forward input
  Shape ys{g.out.N, g.out.C, g.out.H, g.out.W};
  check_output(op, dx, dy, "dy", ys, dx.dtype(), g.in.channels_last);
  if (kind == PoolKind::max)
    check_output(op, dx, argmax, "argmax", ys, DType::i32, g.in.channels_last);
  if (dx.numel() == 0) return;
  MINIDL_DISPATCH(dx.device(), pool2d_backward, kind, dy, argmax, dx, g);
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y) {
  const char* op = "global_avg_pool_forward";
  check_float_image(op, x, "x");
  ImageLayout l = image_layout(op, x, "x");
  MINIDL_CHECK(l.H * l.W > 0, op, ": x ", shape_str(x.shape()), " has no spatial positions");
  check_output(op, x, y, "y", {l.N, l.C, 1, 1}, x.dtype(), false);
  if (y.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), global_avg_pool_forward, x, y, l);
}

void global_avg_pool_backward(const Tensor& dy, const Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  check_float_image(op, dx, "dx");
  ImageLayout l = image_layout(op, dx, "dx");
  check_output(op, dx, dy, "dy", {l.N, l.C, 1, 1}, dx.dtype(), false);
  if (dx.numel() == 0) return;
  MINIDL_DISPATCH(dx.device(), global_avg_pool_backward, dy, dx, l);
}

}  // namespace minidl
