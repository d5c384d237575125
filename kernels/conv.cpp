#include "kernels/conv.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/conv_onednn.h"

namespace minidl {

#if MINIDL_WITH_CUDA
namespace cuda {
int64_t conv_algorithm_cache_size();  // kernels/cuda/conv.cu
}
#endif

namespace {
std::atomic<bool> g_allow_tf32{true};
std::atomic<bool> g_benchmark{false};
std::atomic<bool> g_deterministic{false};

// MINIDL_CPU_CONV, read once: the default CPU backend.
CpuConv default_cpu_conv() {
  const char* v = std::getenv("MINIDL_CPU_CONV");
  const bool onednn = cpu::conv_onednn::built();
  if (!v || !*v) return onednn ? CpuConv::onednn : CpuConv::reference;
  if (std::strcmp(v, "reference") == 0) return CpuConv::reference;
  MINIDL_CHECK(std::strcmp(v, "onednn") == 0, "MINIDL_CPU_CONV='", v,
               "' is unknown; known: onednn, reference");
  MINIDL_CHECK(onednn, "MINIDL_CPU_CONV=onednn, but this minidl was built without oneDNN ",
               "(MINIDL_ONEDNN=OFF, or libdnnl-dev missing when it was configured)");
  return CpuConv::onednn;
}
std::atomic<int> g_cpu_conv{-1};  // -1: not chosen yet

bool is_channels_last(const Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(MemoryFormat::channels_last);
}

void check_float(const char* op, const Tensor& t, const char* name) {
  check_defined(op, t, name);
  MINIDL_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64 || is_16bit_float(t.dtype()), op, ": ",
               name, " ", shape_str(t.shape()), " has dtype ", dtype_name(t.dtype()),
               ", expected f32, f64, bf16 or f16");
}

// A 16-bit convolution has no bias: cuDNN would add it to the rounded result (a second rounding),
// where a 16-bit convolution with f32 accumulation rounds once; Conv2d keeps a biased layer in f32
// storage (layers/conv2d.cpp).
void check_no_bias(const char* op, const Tensor& x, const Tensor& t, const char* name) {
  MINIDL_CHECK(!is_16bit_float(x.dtype()) || !t.defined(), op, ": x is ", dtype_name(x.dtype()),
               " and ", name, " is given; a ", dtype_name(x.dtype()),
               " convolution takes no bias (add it in f32)");
}

// An activation-like tensor: the expected shape, x's dtype, device and layout.
void check_like_x(const char* op, const Tensor& x, const ConvGeometry& g, const Tensor& t,
                  const char* name, const Shape& shape) {
  check_float(op, t, name);
  MINIDL_CHECK(t.shape() == shape, op, ": ", name, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(shape), " for x ", shape_str(x.shape()));
  check_dtype(op, t, name, x.dtype());
  check_same_device(op, {&x, &t});
  bool ok = g.channels_last ? t.is_contiguous(MemoryFormat::channels_last) : t.is_contiguous();
  MINIDL_CHECK(ok, op, ": ", name, " ", shape_str(t.shape()), " must be laid out like x (",
               g.channels_last ? "channels-last" : "contiguous NCHW", ")");
}

// A parameter-like tensor (w, b, dw, db): contiguous, x's dtype and device.
void check_param(const char* op, const Tensor& x, const Tensor& t, const char* name,
                 const Shape& shape) {
  check_float(op, t, name);
  MINIDL_CHECK(t.shape() == shape, op, ": ", name, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(shape));
  check_dtype(op, t, name, x.dtype());
  check_contiguous(op, t, name);
  check_same_device(op, {&x, &t});
}
}  // namespace

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                         int64_t dilation) {
  MINIDL_CHECK(kernel >= 1 && stride >= 1 && pad >= 0 && dilation >= 1, "convolution: bad kernel ",
               kernel, ", stride ", stride, ", padding ", pad, " or dilation ", dilation);
  int64_t span = dilation * (kernel - 1) + 1;
  MINIDL_CHECK(in + 2 * pad >= span, "convolution: input size ", in, " with padding ", pad,
               " is smaller than the (dilated) kernel ", span);
  return (in + 2 * pad - span) / stride + 1;
}

ConvGeometry conv_geometry(const char* op, const Tensor& x, const Tensor& w, const ConvParams& p) {
  check_float(op, x, "x");
  check_float(op, w, "w");
  MINIDL_CHECK(x.dim() == 4 && w.dim() == 4, op, ": x [N, C, H, W] and w [O, C, KH, KW] must be ",
               "4-d, got x ", shape_str(x.shape()), " and w ", shape_str(w.shape()));
  MINIDL_CHECK(w.size(1) == x.size(1), op, ": w ", shape_str(w.shape()), " expects ", w.size(1),
               " input channels, x ", shape_str(x.shape()), " has ", x.size(1));
  ConvGeometry g{};
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.O = w.size(0), g.KH = w.size(2), g.KW = w.size(3);
  g.SH = p.stride_h, g.SW = p.stride_w, g.PH = p.pad_h, g.PW = p.pad_w;
  g.DH = p.dilation_h, g.DW = p.dilation_w;
  g.OH = conv_output_size(g.H, g.KH, g.SH, g.PH, g.DH);
  g.OW = conv_output_size(g.W, g.KW, g.SW, g.PW, g.DW);
  g.channels_last = is_channels_last(x);
  MINIDL_CHECK(g.channels_last || x.is_contiguous(), op, ": x ", shape_str(x.shape()),
               " must be dense (contiguous NCHW or channels-last)");
  check_param(op, x, w, "w", w.shape());
  return g;
}

void check_cudnn_geometry(const ConvGeometry& g) {
  // Strides are products of sizes, so every size and stride fits an int once each tensor's
  // element count does.
  auto check = [](const char* name, const Shape& shape) {
    int64_t n = 0;
    bool ok = shape_nbytes(shape, 1, n);
    MINIDL_CHECK(ok && n <= INT32_MAX, "cuDNN convolution: ", name, " ", shape_str(shape), " has ",
                 ok ? std::to_string(n) : std::string("too many"),
                 " elements; cuDNN takes at most 2^31 - 1 (use a smaller batch)");
  };
  check("x", {g.N, g.C, g.H, g.W});
  check("w", {g.O, g.C, g.KH, g.KW});
  check("y", {g.N, g.O, g.OH, g.OW});
  to_int32(g.PH, "cuDNN convolution: pad_h");
  to_int32(g.PW, "cuDNN convolution: pad_w");
  to_int32(g.SH, "cuDNN convolution: stride_h");
  to_int32(g.SW, "cuDNN convolution: stride_w");
  to_int32(g.DH, "cuDNN convolution: dilation_h");
  to_int32(g.DW, "cuDNN convolution: dilation_w");
}

// x with one channel (or 1x1 images) is NCHW and NHWC at once: the output's layout (y, or dy in
// backward) then says which the convolution runs in (a channels-last model's first layer on
// grey images).
static void take_layout_from(ConvGeometry& g, const Tensor& x, const Tensor& out) {
  if (!g.channels_last && x.is_contiguous(MemoryFormat::channels_last) && is_channels_last(out))
    g.channels_last = true;
}

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvParams& p) {
  const char* op = "conv2d_forward";
  ConvGeometry g = conv_geometry(op, x, w, p);
  take_layout_from(g, x, y);
  check_no_bias(op, x, b, "b");
  if (b.defined()) check_param(op, x, b, "b", {g.O});
  check_like_x(op, x, g, y, "y", {g.N, g.O, g.OH, g.OW});
  if (y.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), conv2d_forward, x, w, b, y, g);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvParams& p) {
  const char* op = "conv2d_backward";
  ConvGeometry g = conv_geometry(op, x, w, p);
  take_layout_from(g, x, dy);
  check_like_x(op, x, g, dy, "dy", {g.N, g.O, g.OH, g.OW});
  if (dx.defined()) check_like_x(op, x, g, dx, "dx", x.shape());
  if (dw.defined()) check_param(op, x, dw, "dw", w.shape());
  check_no_bias(op, x, db, "db");
  if (db.defined()) check_param(op, x, db, "db", {g.O});
  if (!dx.defined() && !dw.defined() && !db.defined()) return;
  if (x.numel() == 0) return;
  MINIDL_DISPATCH(x.device(), conv2d_backward, x, w, dy, dx, dw, db, g);
}

CpuConv cpu_conv() {
  int v = g_cpu_conv.load();
  if (v < 0) {
    v = static_cast<int>(default_cpu_conv());
    g_cpu_conv.store(v);
  }
  return static_cast<CpuConv>(v);
}

void set_cpu_conv(CpuConv c) {
  MINIDL_CHECK(c != CpuConv::onednn || cpu::conv_onednn::built(),
               "set_cpu_conv: this minidl was built without oneDNN");
  g_cpu_conv.store(static_cast<int>(c));
}

const char* cpu_conv_name(CpuConv c) {
  return c == CpuConv::onednn ? "onednn" : "reference";
}

void set_conv_allow_tf32(bool allow) {
  g_allow_tf32 = allow;
}
bool conv_allow_tf32() {
  return g_allow_tf32;
}

void set_conv_benchmark(bool on) {
  g_benchmark = on;
}
bool conv_benchmark() {
  return g_benchmark;
}

void set_conv_deterministic(bool on) {
  g_deterministic = on;
}
bool conv_deterministic() {
  return g_deterministic;
}

int64_t conv_algorithm_cache_size() {
#if MINIDL_WITH_CUDA
  return cuda::conv_algorithm_cache_size();
#else
  return 0;
#endif
}

}  // namespace minidl
