// CUDA add + ReLU: one thread per element running the header's element math (the CPU twin's bits).
#include "core/cuda/launch.cuh"
#include "kernels/add_relu.h"

namespace minidl {
namespace cuda {

// Typed bodies are templates: nvcc forbids __device__ lambdas inside generic lambdas.

template <typename S>  // the storage type: 16-bit values compute in f32, rounded once
static void forward_typed(const Tensor& a, const Tensor& b, const Tensor& y, Stream s) {
  const S* pa = a.data<S>();
  const S* pb = b.data<S>();
  S* py = y.data<S>();
  launch_elementwise(a.numel(), s, [=] __device__(int64_t i) {
    py[i] = narrow<S>(add_relu_element(widen(pa[i]), widen(pb[i])));
  });
}

template <typename S>
static void backward_typed(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s) {
  const S* py = y.data<S>();
  const S* pdy = dy.data<S>();
  S* pg = g.data<S>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t i) {
    pg[i] = narrow<S>(add_relu_backward_element(widen(py[i]), widen(pdy[i])));
  });
}

void add_relu_forward(const Tensor& a, const Tensor& b, const Tensor& y, Stream s) {
  visit_activation(a.dtype(), "add_relu_forward",
                   [&](auto z) { forward_typed<decltype(z)>(a, b, y, s); });
}

void add_relu_backward(const Tensor& y, const Tensor& dy, const Tensor& g, Stream s) {
  visit_activation(y.dtype(), "add_relu_backward",
                   [&](auto z) { backward_typed<decltype(z)>(y, dy, g, s); });
}

}  // namespace cuda
}  // namespace minidl
