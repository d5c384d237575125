// CUDA pooling: one thread per output (forward) or input (backward) element, running the header's
// element functions. Max pooling's backward is a gather (each input element sums, in ascending
// output order, the dy of the windows whose argmax it is): no atomics, the CPU scatter's bits.
#include "core/cuda/launch.cuh"
#include "kernels/pool.h"

namespace minidl {
namespace cuda {

template <typename T>
static void forward_typed(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                          const PoolGeometry& g, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  if (kind == PoolKind::max) {
    int32_t* pa = argmax.defined() ? argmax.data<int32_t>() : nullptr;  // null: eval, no record
    launch_elementwise(y.numel(), s, [=] __device__(int64_t j) {
      py[j] = max_pool_element(px, g, j, pa ? pa + j : nullptr);
    });
  } else {
    launch_elementwise(y.numel(), s,
                       [=] __device__(int64_t j) { py[j] = avg_pool_element(px, g, j); });
  }
}

template <typename T>
static void backward_typed(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                           const PoolGeometry& g, Stream s) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  if (kind == PoolKind::max) {
    const int32_t* pa = argmax.data<int32_t>();
    launch_elementwise(dx.numel(), s, [=] __device__(int64_t i) {
      pdx[i] = max_pool_backward_element(pdy, pa, g, i);
    });
  } else {
    launch_elementwise(dx.numel(), s, [=] __device__(int64_t i) {
      pdx[i] = avg_pool_backward_element(pdy, g, i);
    });
  }
}

template <typename T>
static void global_forward_typed(const Tensor& x, const Tensor& y, ImageLayout l, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  launch_elementwise(y.numel(), s,
                     [=] __device__(int64_t j) { py[j] = global_avg_pool_element(px, l, j); });
}

template <typename T>
static void global_backward_typed(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream s) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  const T inv = T(1) / static_cast<T>(l.H * l.W);
  launch_elementwise(dx.numel(), s, [=] __device__(int64_t i) {
    int64_t n, c, h, w;
    image_coords(l, i, n, c, h, w);
    pdx[i] = pdy[n * l.C + c] * inv;
  });
}

void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolGeometry& g, Stream s) {
  visit_floating(x.dtype(), "pool2d_forward",
                 [&](auto z) { forward_typed<decltype(z)>(kind, x, y, argmax, g, s); });
}

void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolGeometry& g, Stream s) {
  visit_floating(dx.dtype(), "pool2d_backward",
                 [&](auto z) { backward_typed<decltype(z)>(kind, dy, argmax, dx, g, s); });
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y, ImageLayout l, Stream s) {
  visit_floating(x.dtype(), "global_avg_pool_forward",
                 [&](auto z) { global_forward_typed<decltype(z)>(x, y, l, s); });
}

void global_avg_pool_backward(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream s) {
  visit_floating(dx.dtype(), "global_avg_pool_backward",
                 [&](auto z) { global_backward_typed<decltype(z)>(dy, dx, l, s); });
}

}  // namespace cuda
}  // namespace minidl
