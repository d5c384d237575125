// The CUDA twin of the fused SGD step: whatever the number of parameter tensors, one step is a flag
// reset, ONE check launch and ONE update launch. Block b of either kernel works on chunk b of the
// plan's table (device memory, uploaded once when the plan was built).
//
// Bytes per element of an f32 parameter: the check reads g (4); the update reads w, g, m and writes
// w, m (20). With bf16/f16 values the update reads master, g, m and writes master, m, value (22).
#include <cstdint>
#include <type_traits>

#include "core/cuda/launch.cuh"
#include "kernels/sgd.h"

namespace minidl {
namespace cuda {

constexpr int kSgdThreads = 256;

__device__ __forceinline__ bool is_aligned(const void* p, unsigned bytes) {
  return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0;
}

// ---- pass 1: any non-finite gradient sets *flag (every writer stores the same 1) ----

__global__ void sgd_check_kernel(const SgdTensor* tensors, const SgdChunk* chunks, int32_t* flag) {
  const SgdChunk c = chunks[blockIdx.x];
  const float* g = tensors[c.tensor].grad;
  const int64_t b = c.begin;
  const int64_t e = min(b + kSgdChunk, tensors[c.tensor].numel);
  bool bad = false;
  int64_t i = b;
  if (is_aligned(g + b, 16)) {  // float4 body, scalar tail
    const int64_t n4 = (e - b) / 4;
    const float4* g4 = reinterpret_cast<const float4*>(g + b);
    for (int64_t k = threadIdx.x; k < n4; k += blockDim.x) {
      float4 v = g4[k];
      bad |= !sgd_is_finite(v.x) | !sgd_is_finite(v.y) | !sgd_is_finite(v.z) | !sgd_is_finite(v.w);
    }
    i = b + n4 * 4;
  }
  for (int64_t k = i + threadIdx.x; k < e; k += blockDim.x) bad |= !sgd_is_finite(g[k]);
  if (__syncthreads_or(bad) && threadIdx.x == 0) *flag = 1;
}

// ---- pass 2: the update ----

// Stores 4 consecutive values of type V at p (8-byte aligned for 16-bit types).
template <typename V>
__device__ __forceinline__ void store4(V* p, const float4& w) {
  if constexpr (std::is_same_v<V, float>) {
    *reinterpret_cast<float4*>(p) = w;
  } else {
    uint2 packed;
    packed.x = static_cast<uint32_t>(cast_value<V>(w.x).bits) |
               (static_cast<uint32_t>(cast_value<V>(w.y).bits) << 16);
    packed.y = static_cast<uint32_t>(cast_value<V>(w.z).bits) |
               (static_cast<uint32_t>(cast_value<V>(w.w).bits) << 16);
    *reinterpret_cast<uint2*>(p) = packed;
  }
}

// Elements [b, e) of tensor t. V is the value dtype: f32 values are the weights; bf16/f16 values
// are rounded (to nearest even) from the f32 master weights.
template <typename V>
__device__ void update_range(const SgdTensor& t, int64_t b, int64_t e, const SgdStepScalars& s) {
  constexpr bool kMaster = !std::is_same_v<V, float>;
  const float lr = sgd_mul(s.lr, t.lr_mult);
  const float wd = sgd_mul(s.weight_decay, t.decay_mult);
  float* w = kMaster ? t.master : static_cast<float*>(t.value);
  float* m = t.momentum;
  const float* g = t.grad;
  V* out = static_cast<V*>(t.value);
  int64_t i = b;
  bool vec = is_aligned(w + b, 16) && is_aligned(m + b, 16) && is_aligned(g + b, 16) &&
             (!kMaster || is_aligned(out + b, 8));
  if (vec) {
    const int64_t n4 = (e - b) / 4;
    for (int64_t k = threadIdx.x; k < n4; k += blockDim.x) {
      const int64_t j = b + 4 * k;
      float4 w4 = *reinterpret_cast<const float4*>(w + j);
      float4 m4 = *reinterpret_cast<const float4*>(m + j);
      const float4 g4 = *reinterpret_cast<const float4*>(g + j);
      sgd_update_element(w4.x, m4.x, g4.x, s, lr, wd);
      sgd_update_element(w4.y, m4.y, g4.y, s, lr, wd);
      sgd_update_element(w4.z, m4.z, g4.z, s, lr, wd);
      sgd_update_element(w4.w, m4.w, g4.w, s, lr, wd);
      *reinterpret_cast<float4*>(w + j) = w4;
      *reinterpret_cast<float4*>(m + j) = m4;
      if constexpr (kMaster) store4(out + j, w4);
    }
    i = b + n4 * 4;
  }
  for (int64_t k = i + threadIdx.x; k < e; k += blockDim.x) {
    float wk = w[k], mk = m[k];
    sgd_update_element(wk, mk, g[k], s, lr, wd);
    w[k] = wk;
    m[k] = mk;
    if constexpr (kMaster) out[k] = cast_value<V>(wk);
  }
}

__global__ void sgd_update_kernel(const SgdTensor* tensors, const SgdChunk* chunks,
                                  SgdStepScalars args, const int32_t* flag) {
  if (*flag) return;  // a non-finite gradient somewhere: the whole step is skipped
  const SgdStepScalars s = sgd_resolved(args);  // this step's values, when they live in memory
  const SgdChunk c = chunks[blockIdx.x];
  const SgdTensor t = tensors[c.tensor];
  const int64_t e = min(c.begin + kSgdChunk, t.numel);
  switch (t.value_dtype) {  // uniform within the block
    case DType::bf16:
      update_range<bf16>(t, c.begin, e, s);
      break;
    case DType::f16:
      update_range<f16>(t, c.begin, e, s);
      break;
    default:  // f32 (the plan admits nothing else)
      update_range<float>(t, c.begin, e, s);
      break;
  }
}

void sgd_step(const SgdPlan& plan, const SgdStepScalars& s, Stream stream) {
  int32_t* flag = plan.flag.data<int32_t>();
  MINIDL_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int32_t), stream.handle()));
  const unsigned blocks = static_cast<unsigned>(plan.chunks.size());
  if (blocks == 0) return;
  sgd_check_kernel<<<blocks, kSgdThreads, 0, stream.handle()>>>(plan.device_tensors(),
                                                                plan.device_chunks(), flag);
  MINIDL_LAUNCH_CHECK();
  sgd_update_kernel<<<blocks, kSgdThreads, 0, stream.handle()>>>(plan.device_tensors(),
                                                                 plan.device_chunks(), s, flag);
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
