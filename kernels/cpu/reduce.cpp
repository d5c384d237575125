#include "kernels/reduce.h"

#include <vector>

#include "core/parallel.h"

namespace minidl {
namespace cpu {

// Sums p[0, n) in a fixed order: 8 interleaved accumulators (lane i % 8, so the compiler can use
// SIMD and is not bound by the latency of one add chain), combined in lane order.
static float block_sum(const float* p, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += p[i + l];
  for (int l = 0; i < n; ++i, ++l) lanes[l] += p[i];
  float acc = 0.f;
  for (float l : lanes) acc += l;
  return acc;
}

// Sums p[0, n) in blocks of kReduceBlock: each block by block_sum, then the block sums in order.
static float fixed_order_sum(const float* p, int64_t n) {
  int64_t blocks = parallel_chunks(n, kReduceBlock);
  std::vector<float> partial(static_cast<size_t>(blocks), 0.f);
  parallel_for(n, kReduceBlock,
               [&](int64_t b, int64_t e) { partial[b / kReduceBlock] = block_sum(p + b, e - b); });
  float total = 0.f;
  for (float s : partial) total += s;
  return total;
}

void sum_all(const Tensor& x, const Tensor& out, Stream) {
  *out.data<float>() = fixed_order_sum(x.data<float>(), x.numel());
}

void sum_per_channel(const Tensor& x, const Tensor& out, Stream) {
  int64_t N = x.size(0), C = x.size(1), inner = C ? x.numel() / (N * C) : 0;
  const float* p = x.data<float>();
  float* o = out.data<float>();
  parallel_for(C, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      float total = 0.f;
      for (int64_t n = 0; n < N; ++n) total += fixed_order_sum(p + (n * C + c) * inner, inner);
      o[c] = total;
    }
  });
}

void max_along(const Tensor& x, DimView v, const Tensor& values, const Tensor& indices, Stream) {
  const float* p = x.data<float>();
  float* ov = values.data<float>();
  int64_t* oi = indices.data<int64_t>();
  parallel_for(v.outer * v.inner, 1024, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      int64_t o = j / v.inner, in = j % v.inner;
      float best = 0.f;
      int64_t best_i = -1;
      for (int64_t k = 0; k < v.size; ++k)
        max_update(p[(o * v.size + k) * v.inner + in], k, best, best_i);
      ov[j] = best;
      oi[j] = best_i;
    }
  });
}

}  // namespace cpu
}  // namespace minidl
