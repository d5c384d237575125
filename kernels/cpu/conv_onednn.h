// CPU convolution by oneDNN (Debian's libdnnl 2.6, the library PyTorch's CPU convolutions use): the
// CPU counterpart of cuDNN. f32 only (oneDNN has no f64 convolution); NCHW or channels-last (NHWC)
// activations, w [O, C, KH, KW] contiguous. Used by kernels/cpu/conv.cpp when the CPU convolution
// backend is oneDNN (kernels/conv.h); the im2col + OpenBLAS path stays as the reference twin the
// tests compare against.
//
// Primitives are created once per shape and direction and cached (like cuDNN's algorithm cache):
// oneDNN picks its own layouts (blocked nChw16c on AVX-512, nChw8c on AVX2) and the tensors are
// reordered into and out of them around each call, as PyTorch does. oneDNN runs on its own OpenMP
// threads, as many as minidl's num_threads() (docs/benchmarks.md: measured against minidl's pool).
//
// Determinism: same bits run to run for the same thread count and CPU. The weight gradient sums
// over the batch in per-thread partials, so its bits depend on the thread count (the reference
// twin's do not), and the kernels oneDNN picks depend on the CPU's ISA.
#pragma once

#include "kernels/conv.h"

namespace minidl {
namespace cpu {
namespace conv_onednn {

// Whether minidl was built with oneDNN (MINIDL_WITH_ONEDNN).
bool built();

// y = conv(x, w) + b (b may be null). x, y in g's layout.
void forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g);

// dx = dconv/dx (written).
void backward_data(const float* dy, const float* w, float* dx, const ConvGeometry& g);

// dw += dL/dw and db += sum of dy (either may be null, not both).
void backward_weights(const float* x, const float* dy, float* dw, float* db, const ConvGeometry& g);

// Number of distinct (shape, direction) primitives cached.
int64_t cache_size();

}  // namespace conv_onednn
}  // namespace cpu
}  // namespace minidl
