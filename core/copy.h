// copy: dst <- src element by element. Same shape; any dtypes (converted as cast_value does), any
// strides on either side (views, permutes, channels-last), any two devices. Tensor::contiguous(),
// clone(), to() and copy_() are built on it, which is why it lives in core/ (with fill, and the
// dispatch every op uses): core depends on nothing above it. Twins: core/cpu/copy.cpp,
// core/cuda/copy.cu.
#pragma once

#include "core/dispatch.h"

namespace minidl {

// The element math: where element i (row-major over `size`) sits in dst and in src.
struct StridedPair {
  int dims;
  int64_t size[kMaxDims];
  int64_t dst_stride[kMaxDims];
  int64_t src_stride[kMaxDims];
};

MINIDL_HD void strided_pair_offsets(const StridedPair& p, int64_t i, int64_t& dst_off,
                                    int64_t& src_off) {
  dst_off = 0;
  src_off = 0;
  for (int d = p.dims - 1; d >= 0; --d) {
    int64_t idx = i % p.size[d];
    i /= p.size[d];
    dst_off += idx * p.dst_stride[d];
    src_off += idx * p.src_stride[d];
  }
}

// Describes dst and src (same shape) as a StridedPair, dropping size-1 dimensions.
StridedPair make_strided_pair(const Tensor& dst, const Tensor& src);

// Same-device twins: dst and src on one device.
namespace cpu {
void copy_same_device(const Tensor& dst, const Tensor& src, Stream stream);
}
namespace cuda {
void copy_same_device(const Tensor& dst, const Tensor& src, Stream stream);
}

// The public op (kernels/copy.cpp): moves bytes across devices, then converts on dst's device.
void copy(const Tensor& dst, const Tensor& src);

}  // namespace minidl
