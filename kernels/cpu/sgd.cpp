// The CPU twin of the fused SGD step: the plan's chunks are the parallel_for tasks, so the work
// split (and every result bit) is independent of the thread count. Each chunk's loops run through
// the ISA launcher (kernels/cpu/isa_dispatch.h): 8 or 16 elements per instruction, same bits.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/isa_dispatch.h"
#include "kernels/sgd.h"

namespace minidl {
namespace cpu {

static int64_t chunk_end(const SgdTensor& t, const SgdChunk& c) {
  return std::min(c.begin + kSgdChunk, t.numel);
}

// Branch-free scan (so it vectorises): true when every gradient of [b, e) is finite.
static bool chunk_is_finite(const float* g, int64_t b, int64_t e) {
  uint32_t bad = 0;
  for (int64_t i = b; i < e; ++i) {
    uint32_t u;
    std::memcpy(&u, g + i, sizeof u);
    bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// The form flags are template constants here so that the compiler folds the element function's
// branches out of the loop; the math itself is sgd_update_element, unchanged.
template <typename V, SgdForm F, bool Nesterov, bool Decoupled>
static void update_chunk(const SgdTensor& t, int64_t b, int64_t e, SgdStepScalars s) {
  s.form = F;
  s.nesterov = Nesterov;
  s.decoupled_decay = Decoupled;
  const float lr = sgd_mul(s.lr, t.lr_mult);
  const float wd = sgd_mul(s.weight_decay, t.decay_mult);
  float* w = std::is_same_v<V, float> ? static_cast<float*>(t.value) : t.master;
  float* m = t.momentum;
  const float* g = t.grad;
  V* out = static_cast<V*>(t.value);
  for (int64_t i = b; i < e; ++i) {
    float wi = w[i], mi = m[i];
    sgd_update_element(wi, mi, g[i], s, lr, wd);
    w[i] = wi;
    m[i] = mi;
    if constexpr (!std::is_same_v<V, float>) out[i] = cast_value<V>(wi);
  }
}

template <typename V>
static void update_chunk_typed(const SgdTensor& t, int64_t b, int64_t e, const SgdStepScalars& s) {
  const bool caffe = s.form == SgdForm::caffe;
  if (caffe && !s.nesterov && !s.decoupled_decay)
    update_chunk<V, SgdForm::caffe, false, false>(t, b, e, s);
  else if (caffe && !s.nesterov)
    update_chunk<V, SgdForm::caffe, false, true>(t, b, e, s);
  else if (caffe && !s.decoupled_decay)
    update_chunk<V, SgdForm::caffe, true, false>(t, b, e, s);
  else if (caffe)
    update_chunk<V, SgdForm::caffe, true, true>(t, b, e, s);
  else if (!s.nesterov && !s.decoupled_decay)
    update_chunk<V, SgdForm::torch, false, false>(t, b, e, s);
  else if (!s.nesterov)
    update_chunk<V, SgdForm::torch, false, true>(t, b, e, s);
  else if (!s.decoupled_decay)
    update_chunk<V, SgdForm::torch, true, false>(t, b, e, s);
  else
    update_chunk<V, SgdForm::torch, true, true>(t, b, e, s);
}

void sgd_step(const SgdPlan& plan, const SgdStepScalars& s, Stream) {
  const int64_t n = static_cast<int64_t>(plan.chunks.size());
  // Pass 1: one verdict per chunk, combined afterwards (an OR: order cannot matter).
  std::vector<uint8_t> bad(static_cast<size_t>(n), 0);
  const CpuIsa isa = cpu_isa();
  parallel_for(n, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const SgdChunk& ch = plan.chunks[c];
      const SgdTensor& t = plan.tensors[ch.tensor];
      bad[c] = !isa_call(isa, [&] { return chunk_is_finite(t.grad, ch.begin, chunk_end(t, ch)); });
    }
  });
  int32_t found = std::any_of(bad.begin(), bad.end(), [](uint8_t v) { return v != 0; }) ? 1 : 0;
  *plan.flag.data<int32_t>() = found;
  if (found) return;  // skip the whole step: nothing is written

  // Pass 2: the update.
  const SgdStepScalars r = sgd_resolved(s);
  parallel_for(n, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const SgdChunk& ch = plan.chunks[c];
      const SgdTensor& t = plan.tensors[ch.tensor];
      int64_t e = chunk_end(t, ch);
      switch (t.value_dtype) {
        case DType::f32:
          isa_call(isa, [&] { update_chunk_typed<float>(t, ch.begin, e, r); });
          break;
        case DType::bf16:
          isa_call(isa, [&] { update_chunk_typed<bf16>(t, ch.begin, e, r); });
          break;
        case DType::f16:
          isa_call(isa, [&] { update_chunk_typed<f16>(t, ch.begin, e, r); });
          break;
        default:
          MINIDL_FAIL("sgd_step: parameter dtype ", dtype_name(t.value_dtype),
                      " is not f32, bf16 or f16");
      }
    }
  });
}

}  // namespace cpu
}  // namespace minidl
