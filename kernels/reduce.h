// Reductions over f32 (and f64, for gradient checks): sum and mean of all elements and per channel,
// max and argmax along a dim. Outputs have x's dtype. Sums accumulate in x's dtype in a fixed order
// (fixed-size blocks, each summed in order, then the block sums in order), so the CPU result does
// not depend on the thread count.
#pragma once

#include "core/dispatch.h"

namespace minidl {

// ---- element math ----

constexpr int64_t kReduceBlock = 4096;  // elements per fixed-order partial sum on the CPU

// Keeps the larger value and the first index reaching it; NaN wins (it propagates, as in PyTorch).
template <typename T>
MINIDL_HD void max_update(T v, int64_t i, T& best, int64_t& best_i) {
  bool v_nan = v != v, best_nan = best != best;
  if (best_i < 0 || (v > best && !best_nan) || (v_nan && !best_nan)) {
    best = v;
    best_i = i;
  }
}

// A dimension of x seen as [outer, size, inner] (row-major).
struct DimView {
  int64_t outer, size, inner;
};
DimView dim_view(const Tensor& x, int dim);

// ---- twins ----

namespace cpu {
void sum_all(const Tensor& x, const Tensor& out, Stream s);
void sum_per_channel(const Tensor& x, const Tensor& out, Stream s);
void max_along(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices, Stream s);
}  // namespace cpu
namespace cuda {
void sum_all(const Tensor& x, const Tensor& out, Stream s);
void sum_per_channel(const Tensor& x, const Tensor& out, Stream s);
void max_along(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices, Stream s);
}  // namespace cuda

// ---- the ops ----

// out [1] = sum of all elements of x (contiguous f32 or f64; out of x's dtype).
void sum(const Tensor& x, const Tensor& out);
// out [1] = mean of all elements of x.
void mean(const Tensor& x, const Tensor& out);
// out [C] = sum over every dimension but dim 1 of x [N, C, ...] (contiguous).
void sum_per_channel(const Tensor& x, const Tensor& out);
void mean_per_channel(const Tensor& x, const Tensor& out);
// values (x's dtype) and indices (i64), x's shape without `dim`: the max along dim and its first
// index.
void max_along(const Tensor& x, int dim, const Tensor& values, const Tensor& indices);

// Conveniences returning a host value or new tensors.
double sum_value(const Tensor& x);
double mean_value(const Tensor& x);
Tensor argmax(const Tensor& x, int dim);

}  // namespace minidl
