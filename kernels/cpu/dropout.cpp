#include "kernels/dropout.h"

#include "kernels/cpu/isa_dispatch.h"

namespace minidl {
namespace cpu {

void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw, Stream) {
  const uint64_t seed = static_cast<uint64_t>(draw.data<int64_t>()[0]);
  const uint64_t offset = static_cast<uint64_t>(draw.data<int64_t>()[1]);
  visit_floating(x.dtype(), "dropout", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T scale = p < 1.f ? T(1) / (T(1) - static_cast<T>(p)) : T(0);
    // Philox is integer math: the wide ISAs draw 8 or 16 masks at once.
    isa_parallel_for(x.numel(), 1 << 14, [=](int64_t i) {
      py[i] = dropout_element(px[i], dropout_keep(seed, offset, i, p), scale);
    });
  });
}

void dropout_reserve(const Tensor& state, const Tensor& draw, uint64_t counters, Stream) {
  dropout_reserve_element(state.data<int64_t>(), draw.data<int64_t>(), counters);
}

}  // namespace cpu
}  // namespace minidl
