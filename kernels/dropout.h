// Inverted dropout with Philox masks: element i (memory order) is kept when the uniform draw
// philox_uniform_at(seed, offset, i) is >= p, and scaled by 1 / (1 - p). The mask is a pure
// function of (seed, offset, i), so the CPU and CUDA twins drop the same elements, and backward
// recomputes it instead of storing it. A fill of n elements uses uniform_counters(n) Philox
// counters.
#pragma once

#include "kernels/random.h"

namespace minidl {

// ---- element math ----

MINIDL_HD bool dropout_keep(uint64_t seed, uint64_t offset, int64_t i, float p) {
  return philox_uniform_at(seed, offset, i) >= p;
}

template <typename T>
MINIDL_HD T dropout_element(T v, bool keep, T scale) {
  return keep ? v * scale : T(0);
}

// ---- twins ----

namespace cpu {
void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset,
                   Stream s);
}
namespace cuda {
void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset,
                   Stream s);
}

// ---- the ops ----

// y = x * mask / (1 - p). x, y: dense, same shape and layout, f32 or f64; p in [0, 1].
void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset);

// The forward and backward passes are the same map (dx = dy * mask / (1 - p)) with the same
// (seed, offset).
inline void dropout_forward(const Tensor& x, const Tensor& y, float p, uint64_t seed,
                            uint64_t offset) {
  dropout_apply(x, y, p, seed, offset);
}
inline void dropout_backward(const Tensor& dy, const Tensor& dx, float p, uint64_t seed,
                             uint64_t offset) {
  dropout_apply(dy, dx, p, seed, offset);
}

}  // namespace minidl
