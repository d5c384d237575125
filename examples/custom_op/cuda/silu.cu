// SiLU's CUDA twin: the same element math, one thread per element (core/cuda/launch.cuh).
#include "core/cuda/launch.cuh"
#include "silu.h"

namespace minidl {
namespace cuda {

// Typed bodies are templates: nvcc forbids __device__ lambdas inside generic lambdas.
template <typename T>
static void forward_typed(const Tensor& x, const Tensor& y, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) { py[i] = silu_forward_element(px[i]); });
}

template <typename T>
static void backward_typed(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream s) {
  const T* px = x.data<T>();
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  launch_elementwise(x.numel(), s,
                     [=] __device__(int64_t i) { pdx[i] = silu_backward_element(px[i], pdy[i]); });
}

void silu_forward(const Tensor& x, const Tensor& y, Stream s) {
  visit_floating(x.dtype(), "silu_forward", [&](auto z) { forward_typed<decltype(z)>(x, y, s); });
}

void silu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream s) {
  visit_floating(x.dtype(), "silu_backward",
                 [&](auto z) { backward_typed<decltype(z)>(x, dy, dx, s); });
}

}  // namespace cuda
}  // namespace minidl
