// 2-d convolution (cross-correlation, as in every framework): forward, and one backward that gives
// the input gradient, and accumulates the filter and bias gradients.
//   x [N, C, H, W], w [O, C, KH, KW], b [O], y [N, O, OH, OW],
//   OH = (H + 2 PH - DH (KH - 1) - 1) / SH + 1 (floor), likewise OW.
// CPU, two backends (cpu_conv() below):
//  - onednn (default when built with libdnnl): oneDNN's primitives, cached per shape, for f32 in
//  NCHW
//    or channels-last (kernels/cpu/conv_onednn.cpp); the CPU counterpart of cuDNN.
//  - reference (f64 always; f32 when asked): direct AVX2 kernels for f32 stride-1 layers with rows
//    of 12+ outputs (kernels/cpu/conv_avx2.cpp), else im2col + OpenBLAS GEMM over small groups of
//    images spread over minidl's threads (figures in docs/layers.md). Same bits for any thread
//    count. Channels-last tensors go through NCHW copies. The twin every other path is tested
//    against.
// CUDA: cuDNN forward / backward-data / backward-filter / backward-bias; algorithms chosen once per
// shape (heuristics, or timed with set_conv_benchmark) and cached; workspace from the caching
// allocator; NCHW or NHWC (x, y, dy, dx channels-last; w stays [O, C, KH, KW] contiguous).
// f32 and f64 on both twins, and bf16 / f16 (mixed precision, docs/precision.md): x, w, y (dy, dx,
// dw) all of one 16-bit type, the products summed in f32, each result rounded once to the 16-bit
// type (dw: the sum added to dw in f32, then rounded); no bias (b, db undefined: Conv2d adds a bias
// in f32). The CPU twin widens the operands to f32, runs its f32 path and rounds: exactly the
// values of the f32-storage rounding Conv2d used before. CUDA: cuDNN with 16-bit tensors and f32
// compute (tensor cores); it equals the CPU twin but for sums whose order differs (within one unit
// in the last place of the 16-bit result).
#pragma once

#include "core/dispatch.h"

namespace minidl {

struct ConvParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

// Every size of one convolution, checked (conv_geometry below).
struct ConvGeometry {
  int64_t N, C, H, W;  // input
  int64_t O, KH, KW;   // filters
  int64_t OH, OW;      // output
  int64_t SH, SW, PH, PW, DH, DW;
  bool channels_last;  // x, y, dy, dx in NHWC
};

// Output size of one spatial dimension (floor mode); throws if it would be < 1.
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);

// Checks x and w (and b if defined) and returns the geometry. `op` names the caller in errors.
ConvGeometry conv_geometry(const char* op, const Tensor& x, const Tensor& w, const ConvParams& p);

// cuDNN's descriptors take 32-bit sizes and strides, and its legacy convolution API works on
// tensors of under 2^31 elements (PyTorch splits such a batch; minidl asks for a smaller one).
// Throws naming the tensor and the size; called by the CUDA twin before it builds descriptors.
void check_cudnn_geometry(const ConvGeometry& g);

// ---- twins ----
// b, dx, dw, db may be undefined tensors (no bias / gradient not wanted).
namespace cpu {
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvGeometry& g, Stream s);
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvGeometry& g, Stream s);
}  // namespace cpu
namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvGeometry& g, Stream s);
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvGeometry& g, Stream s);
}  // namespace cuda

// ---- the ops ----

// y = conv(x, w) + b. y: [N, O, OH, OW] in x's layout, written.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvParams& p);

// dx = dconv/dx (written; skipped if undefined); dw += dL/dw; db += sum of dy over N, OH, OW
// (each skipped if undefined). dy and dx in x's layout.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvParams& p);

// Whether cuDNN may use TF32 tensor cores for f32 convolutions (default true, as PyTorch's
// torch.backends.cudnn.allow_tf32). The CUDA-vs-CPU tests turn it off to compare closely.
void set_conv_allow_tf32(bool allow);
bool conv_allow_tf32();

// Whether cuDNN algorithms are chosen by timing the candidates once per shape (cudnnFind*Ex, as
// torch.backends.cudnn.benchmark) instead of by cuDNN's heuristics (default false).
void set_conv_benchmark(bool on);
bool conv_benchmark();

// Whether cuDNN may only use algorithms it reports as deterministic (default false; as
// torch.backends.cudnn.deterministic): with it a GPU run repeats bit for bit. The CPU twin is
// always deterministic. Set by minidl_train's `deterministic` setting.
void set_conv_deterministic(bool on);
bool conv_deterministic();

// The CPU convolution backend for f32 (f64 always runs the reference). The default is onednn where
// minidl was built with it, else reference; MINIDL_CPU_CONV=onednn|reference overrides it (read
// once).
enum class CpuConv { onednn, reference };
CpuConv cpu_conv();
void set_cpu_conv(CpuConv c);  // throws for onednn in a build without it
const char* cpu_conv_name(CpuConv c);

// Number of distinct convolution shapes whose cuDNN algorithms are cached (0 on the CPU).
int64_t conv_algorithm_cache_size();

}  // namespace minidl
