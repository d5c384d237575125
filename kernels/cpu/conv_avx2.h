// Direct f32 convolution for stride-1 layers with rows of 12 or more outputs, on AVX2 + FMA
// (runtime-detected; kernels/cpu/conv_avx2.cpp). Internal to the CPU conv twin
// (kernels/cpu/conv.cpp), which uses it for the forward pass and for the input gradient (itself a
// stride-1 convolution).
//
// Why: im2col + GEMM spends as much time building and packing the column matrix as multiplying
// for CIFAR-sized layers (16 channels at 28x28). The direct kernel reads a zero-padded copy of
// each image and keeps a block of output channels x 16 outputs of a row in registers: about 80% of
// the FMA peak, against about 45% for im2col + OpenBLAS (docs/layers.md has the figures).
#pragma once

#include <algorithm>

#include "core/parallel.h"
#include "kernels/conv.h"

namespace minidl {
namespace cpu {
namespace conv_avx2 {

// The CPU has AVX2 and FMA, and MINIDL_CONV_AVX2 is not "0" (the switch to compare the paths).
bool available();

// The geometry suits the kernel: stride 1, output rows of 12 or more, and 32 or more taps per
// output (fewer, as in a first layer on 1-channel images, do not pay for the padded copy).
bool suits(const ConvGeometry& g);

// y [N, O, OH, OW] = conv(x, w) + b (b may be null); NCHW; spreads images over the threads.
void forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g);

// dst[i] += sum over chunks c (in order) of parts[c * size + i], i < size, in parallel over i: the
// fixed-order sum of per-chunk partial gradients.
template <typename T>
void add_partials(const T* parts, int64_t chunks, int64_t size, T* dst) {
  parallel_for(size, 1 << 12, [&](int64_t b, int64_t e) {
    for (int64_t c = 0; c < chunks; ++c) {
      const T* src = parts + c * size;
      for (int64_t i = b; i < e; ++i) dst[i] += src[i];
    }
  });
}

// How many fixed chunks a filter-gradient sum over `units` (images or groups) is cut into: from
// the sizes alone (never the thread count, so the bits do not depend on it), up to 32 for load
// balance, and few enough that the partials stay under 2^24 values.
inline int64_t filter_chunks(int64_t units, int64_t dw_size) {
  return std::max<int64_t>(1, std::min<int64_t>({32, units, (int64_t(1) << 24) / dw_size}));
}

// The filter gradient needs stride 1 and rows of 12 or more.
bool suits_filter(const ConvGeometry& g);

// dw [O, C, KH, KW] += dL/dw and db [O] += sum of dy (db may be null). Images are summed in
// `chunks` fixed chunks, each into its own partial, the partials added in chunk order: the same
// bits for any thread count.
void backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvGeometry& g,
                     int64_t chunks);

}  // namespace conv_avx2
}  // namespace cpu
}  // namespace minidl
