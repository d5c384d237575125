// CPU pooling: the header's element functions over the output (forward) or the input (backward),
// in parallel chunks.
#include <algorithm>

#include "core/parallel.h"
#include "kernels/pool.h"

namespace minidl {
namespace cpu {
namespace {

constexpr int64_t kGrain = 1 << 12;

template <typename F>
void for_each_index(int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

template <typename T>
void forward_typed(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                   const PoolGeometry& g) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  if (kind == PoolKind::max) {
    int32_t* pa = argmax.data<int32_t>();
    for_each_index(y.numel(), [&](int64_t j) { py[j] = max_pool_element(px, g, j, pa[j]); });
  } else {
    for_each_index(y.numel(), [&](int64_t j) { py[j] = avg_pool_element(px, g, j); });
  }
}

template <typename T>
void backward_typed(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                    const PoolGeometry& g) {
  const T* pdy = dy.data<T>();
  T* pdx = dx.data<T>();
  if (kind == PoolKind::max) {
    const int32_t* pa = argmax.data<int32_t>();
    for_each_index(dx.numel(),
                   [&](int64_t i) { pdx[i] = max_pool_backward_element(pdy, pa, g, i); });
  } else {
    for_each_index(dx.numel(), [&](int64_t i) { pdx[i] = avg_pool_backward_element(pdy, g, i); });
  }
}

}  // namespace

void pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const Tensor& argmax,
                    const PoolGeometry& g, Stream) {
  visit_floating(x.dtype(), "pool2d_forward",
                 [&](auto z) { forward_typed<decltype(z)>(kind, x, y, argmax, g); });
}

void pool2d_backward(PoolKind kind, const Tensor& dy, const Tensor& argmax, const Tensor& dx,
                     const PoolGeometry& g, Stream) {
  visit_floating(dx.dtype(), "pool2d_backward",
                 [&](auto z) { backward_typed<decltype(z)>(kind, dy, argmax, dx, g); });
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y, ImageLayout l, Stream) {
  visit_floating(x.dtype(), "global_avg_pool_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(l.N * l.C, std::max<int64_t>(1, kGrain / (l.H * l.W)), [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) py[j] = global_avg_pool_element(px, l, j);
    });
  });
}

void global_avg_pool_backward(const Tensor& dy, const Tensor& dx, ImageLayout l, Stream) {
  visit_floating(dx.dtype(), "global_avg_pool_backward", [&](auto z) {
    using T = decltype(z);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const T inv = T(1) / static_cast<T>(l.H * l.W);
    for_each_index(dx.numel(), [&](int64_t i) {
      int64_t n, c, h, w;
      image_coords(l, i, n, c, h, w);
      pdx[i] = pdy[n * l.C + c] * inv;
    });
  });
}

}  // namespace cpu
}  // namespace minidl
