#include "core/cuda/launch.cuh"
#include "kernels/dropout.h"

namespace minidl {
namespace cuda {

// Every thread reads the draw (16 bytes, served from the cache after the first).
template <typename T>
static void apply_typed(const Tensor& x, const Tensor& y, float p, const Tensor& draw, Stream s) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const int64_t* pd = draw.data<int64_t>();
  const T scale = p < 1.f ? T(1) / (T(1) - static_cast<T>(p)) : T(0);
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    const uint64_t seed = static_cast<uint64_t>(pd[0]), offset = static_cast<uint64_t>(pd[1]);
    py[i] = dropout_element(px[i], dropout_keep(seed, offset, i, p), scale);
  });
}

void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw, Stream s) {
  visit_floating(x.dtype(), "dropout",
                 [&](auto z) { apply_typed<decltype(z)>(x, y, p, draw, s); });
}

__global__ void dropout_reserve_kernel(int64_t* state, int64_t* draw, uint64_t counters) {
  dropout_reserve_element(state, draw, counters);
}

void dropout_reserve(const Tensor& state, const Tensor& draw, uint64_t counters, Stream s) {
  dropout_reserve_kernel<<<1, 1, 0, s.handle()>>>(state.data<int64_t>(), draw.data<int64_t>(),
                                                   counters);
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
