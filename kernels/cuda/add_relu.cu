// CUDA add + ReLU: one thread per element running the header's element math (the CPU twin's bits).
#include "core/cuda/launch.cuh"
#include "kernels/add_relu.h"

namespace minidl {
namespace cuda {

// Typed bodies are templates: nvcc forbids __device__ lambdas inside generic lambdas.

template <typename T>
static void forward_typed(const Tensor& a, const Tensor& b, const Tensor& y, Stream s) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
  launch_elementwise(a.numel(), s,
                     [=] __device__(int64_t i) { py[i] = add_relu_element(pa[i], pb[i]); });
}

template <typename T>
static void backward_typed(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s) {
  const T* py = y.data<T>();
  const T* pdy = dy.data<T>();
  T* pg = g.data<T>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t i) {
    pg[i] = add_relu_backward_element(py[i], pdy[i]);
  });
}

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream s) {
  visit_floating(a.dtype(), "add_relu_forward",
                 [&](auto z) { forward_typed<decltype(z)>(a, b, y, s); });
}

void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s) {
  visit_floating(y.dtype(), "add_relu_backward",
                 [&](auto z) { backward_typed<decltype(z)>(y, dy, g, s); });
}

}  // namespace cuda
}  // namespace minidl
