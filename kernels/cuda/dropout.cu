#include "core/cuda/launch.cuh"
#include "kernels/dropout.h"

namespace minidl {
namespace cuda {

template <typename T>
static void apply_typed(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset,
                        Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T scale = p < 1.f ? T(1) / (T(1) - static_cast<T>(p)) : T(0);
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    py[i] = dropout_element(px[i], dropout_keep(seed, offset, i, p), scale);
  });
}

void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset,
                   Stream s) {
  visit_floating(x.dtype(), "dropout",
                 [&](auto z) { apply_typed<decltype(z)>(x, y, p, seed, offset, s); });
}

}  // namespace cuda
}  // namespace minidl
