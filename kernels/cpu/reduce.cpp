#include "kernels/reduce.h"

#include <vector>

#include "kernels/cpu/isa_dispatch.h"

namespace minidl {
namespace cpu {

// Sums p[0, n) in a fixed order: 8 interleaved accumulators (lane i % 8, so the compiler can use
// SIMD and is not bound by the latency of one add chain), combined in lane order.
template <typename T>
static T block_sum(const T* p, int64_t n) {
  T lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += p[i + l];
  for (int l = 0; i < n; ++i, ++l) lanes[l] += p[i];
  T acc = 0;
  for (T l : lanes) acc += l;
  return acc;
}

// Sums p[0, n) in blocks of kReduceBlock: each block by block_sum, then the block sums in order.
// The lanes fix the order, so the vectorised block_sum of a wide ISA adds the same numbers in the
// same order as the baseline's.
template <typename T>
static T fixed_order_sum(const T* p, int64_t n) {
  int64_t blocks = parallel_chunks(n, kReduceBlock);
  std::vector<T> partial(static_cast<size_t>(blocks), T(0));
  const CpuIsa isa = cpu_isa();
  parallel_for(n, kReduceBlock, [&](int64_t b, int64_t e) {
    partial[b / kReduceBlock] = isa_call(isa, [&] { return block_sum(p + b, e - b); });
  });
  T total = 0;
  for (T s : partial) total += s;
  return total;
}

void sum_all(const Tensor& x, const Tensor& out, Stream) {
  visit_floating(x.dtype(), "sum", [&](auto z) {
    using T = decltype(z);
    *out.data<T>() = fixed_order_sum(x.data<T>(), x.numel());
  });
}

void sum_per_channel(const Tensor& x, const Tensor& out, Stream) {
  int64_t N = x.size(0), C = x.size(1), inner = C ? x.numel() / (N * C) : 0;
  visit_floating(x.dtype(), "sum_per_channel", [&](auto z) {
    using T = decltype(z);
    const T* p = x.data<T>();
    T* o = out.data<T>();
    parallel_for(C, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        T total = 0;
        for (int64_t n = 0; n < N; ++n) total += fixed_order_sum(p + (n * C + c) * inner, inner);
        o[c] = total;
      }
    });
  });
}

void max_along(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices, Stream) {
  visit_floating(x.dtype(), "max_along", [&](auto z) {
    using T = decltype(z);
    const T* p = x.data<T>();
    T* ov = values.data<T>();
    int64_t* oi = indices.data<int64_t>();
    parallel_for(v.outer * v.inner, 1024, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        int64_t o = j / v.inner, in = j % v.inner;
        T best = 0;
        int64_t best_i = -1;
        for (int64_t k = 0; k < v.size; ++k)
          max_update(p[(o * v.size + k) * v.inner + in], k, best, best_i);
        ov[j] = best;
        oi[j] = best_i;
      }
    });
  });
}

}  // namespace cpu
}  // namespace minidl
