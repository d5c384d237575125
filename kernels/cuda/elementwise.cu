#include "core/cuda/launch.cuh"
#include "kernels/elementwise.h"

namespace minidl {
namespace cuda {

// Typed bodies are templates: nvcc forbids __device__ lambdas inside generic lambdas. S is the
// storage type (bf16/f16 activations compute in f32 and round once: the CPU twin's bits).

template <typename S>
static void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out,
                         Broadcast bc, Stream s) {
  const S* pa = a.data<S>();
  const S* pb = b.data<S>();
  S* po = out.data<S>();
  launch_elementwise(a.numel(), s, [=] __device__(int64_t i) {
    po[i] = narrow<S>(binary_element(op, widen(pa[i]), widen(pb[broadcast_index(bc, i)])));
  });
}

template <typename T>
static void axpy_typed(T alpha, const Tensor& x, const Tensor& y, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t i) { py[i] = alpha * px[i] + py[i]; });
}

template <typename T>
static void scale_typed(T alpha, const Tensor& x, const Tensor& out, Stream s) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) { po[i] = alpha * px[i]; });
}

template <typename S>
static void relu_forward_typed(const Tensor& x, const Tensor& y, Stream s) {
  const S* px = x.data<S>();
  S* py = y.data<S>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    py[i] = narrow<S>(relu_forward_element(widen(px[i])));
  });
}

template <typename S>
static void relu_backward_typed(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream s) {
  const S* py = y.data<S>();
  const S* pdy = dy.data<S>();
  S* pdx = dx.data<S>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t i) {
    pdx[i] = narrow<S>(relu_backward_element(widen(py[i]), widen(pdy[i])));
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream s) {
  visit_activation(a.dtype(), "binary",
                   [&](auto z) { binary_typed<decltype(z)>(op, a, b, out, bc, s); });
}
void axpy(double alpha, const Tensor& x, const Tensor& y, Stream s) {
  visit_floating(y.dtype(), "axpy", [&](auto z) {
    axpy_typed<decltype(z)>(static_cast<decltype(z)>(alpha), x, y, s);
  });
}
void scale(double alpha, const Tensor& x, const Tensor& out, Stream s) {
  visit_floating(x.dtype(), "scale", [&](auto z) {
    scale_typed<decltype(z)>(static_cast<decltype(z)>(alpha), x, out, s);
  });
}
void relu_forward(const Tensor& x, const Tensor& y, Stream s) {
  visit_activation(x.dtype(), "relu_forward",
                   [&](auto z) { relu_forward_typed<decltype(z)>(x, y, s); });
}
void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream s) {
  visit_activation(y.dtype(), "relu_backward",
                   [&](auto z) { relu_backward_typed<decltype(z)>(y, dy, dx, s); });
}

}  // namespace cuda
}  // namespace minidl
