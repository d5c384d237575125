// Inverted dropout with Philox masks: element i (memory order) is kept when the uniform draw
// philox_uniform_at(seed, offset, i) is >= p, and scaled by 1 / (1 - p). The mask is a pure
// function of (seed, offset, i), so the CPU and CUDA twins drop the same elements, and backward
// recomputes it instead of storing it. A fill of n elements uses uniform_counters(n) Philox
// counters.
//
// The (seed, offset) pair is read from device memory, a "draw" (i64 [2], both bit-cast from
// uint64), not passed as launch arguments: a CUDA graph replays its launches with their arguments
// frozen at capture, while dropout_reserve, replayed too, advances the layer's stream on the device
// and writes each step's draw (SolverOptions::cuda_graph, docs/gpu.md).
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

// draw = state; state.offset += counters (one thread: the twins share it).
MINIDL_HD void dropout_reserve_element(int64_t* state, int64_t* draw, uint64_t counters) {
  draw[0] = state[0];
  draw[1] = state[1];
  state[1] = static_cast<int64_t>(static_cast<uint64_t>(state[1]) + counters);
}

// ---- twins ----

namespace cpu {
void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw, Stream s);
void dropout_reserve(const Tensor& state, const Tensor& draw, uint64_t counters, Stream s);
}  // namespace cpu
namespace cuda {
void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw, Stream s);
void dropout_reserve(const Tensor& state, const Tensor& draw, uint64_t counters, Stream s);
}  // namespace cuda

// ---- the ops ----

// y = x * mask / (1 - p) with the mask of `draw` (i64 [2]: seed, offset, on x's device). x, y:
// dense, same shape and layout, f32 or f64; p in [0, 1].
void dropout_apply(const Tensor& x, const Tensor& y, float p, const Tensor& draw);
// The same with (seed, offset) given by the host (tests and benchmarks; a CUDA x costs a copy of
// the pair to the device).
void dropout_apply(const Tensor& x, const Tensor& y, float p, uint64_t seed, uint64_t offset);

// Reserves the counters of a fill of n elements from a stream held on the device: draw = state,
// then state's offset += uniform_counters(n). state, draw: i64 [2] on one device.
void dropout_reserve(const Tensor& state, const Tensor& draw, int64_t n);

// The forward and backward passes are the same map (dx = dy * mask / (1 - p)) with the same draw.
inline void dropout_forward(const Tensor& x, const Tensor& y, float p, const Tensor& draw) {
  dropout_apply(x, y, p, draw);
}
inline void dropout_backward(const Tensor& dy, const Tensor& dx, float p, const Tensor& draw) {
  dropout_apply(dy, dx, p, draw);
}
inline void dropout_forward(const Tensor& x, const Tensor& y, float p, uint64_t seed,
                            uint64_t offset) {
  dropout_apply(x, y, p, seed, offset);
}

}  // namespace minidl
