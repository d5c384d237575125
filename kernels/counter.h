// count_up: adds one to an i64 counter held in device memory (BatchNorm2d's num_batches_tracked).
//
//   counter[0] += 1                      counter: i64, one element
//
// A kernel, not a fill of a value the host counted: a CUDA graph replays its launches with their
// arguments frozen at capture, so a host count would write the same number at every replay, while
// the device's own increment advances at each one (SolverOptions::cuda_graph, docs/gpu.md).
#pragma once

#include "core/tensor.h"

namespace minidl {

// ---- twins ----

namespace cpu {
void count_up(const Tensor& counter, Stream s);
}  // namespace cpu
namespace cuda {
void count_up(const Tensor& counter, Stream s);
}  // namespace cuda

// ---- the op ----

// Throws unless `counter` is one i64.
void count_up(const Tensor& counter);

}  // namespace minidl
