// How an op reaches its twin. Each op header declares the same function twice, in minidl::cpu and
// minidl::cuda (same signature, the last argument the stream the CUDA twin runs on), and defines
// the public op in minidl:: as: check the arguments, then MINIDL_DISPATCH to the tensor's device.
// In CPU-only builds the CUDA branch is compiled out and throws (it cannot be reached: no tensor
// can live on a CUDA device there).
#pragma once

#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace minidl {
namespace detail {
[[noreturn]] void no_cuda_build(const char* op);
}  // namespace detail
}  // namespace minidl

#if MINIDL_WITH_CUDA
#define MINIDL_DISPATCH(device, op, ...)                                      \
  do {                                                                        \
    ::minidl::Device minidl_dev_ = (device);                                  \
    if (minidl_dev_.is_cuda()) {                                              \
      ::minidl::activate_device(minidl_dev_);                                 \
      ::minidl::cuda::op(__VA_ARGS__, ::minidl::current_stream(minidl_dev_)); \
    } else {                                                                  \
      ::minidl::cpu::op(__VA_ARGS__, ::minidl::Stream());                     \
    }                                                                         \
  } while (0)
#else
#define MINIDL_DISPATCH(device, op, ...)                          \
  do {                                                            \
    if ((device).is_cuda()) ::minidl::detail::no_cuda_build(#op); \
    ::minidl::cpu::op(__VA_ARGS__, ::minidl::Stream());           \
  } while (0)
#endif

namespace minidl {

// Argument checks shared by the ops. Each throws minidl::Error naming the op and what was wrong:
// "add: shape mismatch: a [2, 3] vs b [3, 2]".
void check_defined(const char* op, const Tensor& t, const char* name);
void check_same_shape(const char* op, const Tensor& a, const char* a_name, const Tensor& b,
                      const char* b_name);
void check_same_device(const char* op, const std::vector<const Tensor*>& tensors);
void check_dtype(const char* op, const Tensor& t, const char* name, DType expected);
void check_contiguous(const char* op, const Tensor& t, const char* name);
void check_dim(const char* op, const Tensor& t, const char* name, int dims);

// Whether a and b (one shape) lay their elements out in the same order: equal strides in every
// dimension longer than 1. A dimension of size 1 has no order, so its stride is free: an NHWC
// [N, C, 1, 1] or [N, 1, H, W] tensor is also dense NCHW, and a copy in the other format has
// other strides there but the same memory.
bool same_memory_order(const Tensor& a, const Tensor& b);

}  // namespace minidl
