// CUDA step log: one block counts the hits (CUB block reduction of exact small integers, so the
// count is the CPU twin's), then thread 0 writes the cursor's row and advances the cursor.
#include <cub/block/block_reduce.cuh>

#include "core/cuda/launch.cuh"
#include "kernels/step_log.h"

namespace minidl {
namespace cuda {

constexpr int kStepLogThreads = 256;

template <typename L>
__global__ void step_log_kernel(const L* loss, const int64_t* ranks, int64_t n,
                                const int32_t* flag, double* log, int64_t rows,
                                int64_t* cursor) {
  using Reduce = cub::BlockReduce<double, kStepLogThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  double hits = 0;
  for (int64_t i = threadIdx.x; i < n; i += kStepLogThreads) hits += top1_hit(ranks[i]);
  double total = Reduce(tmp).Sum(hits);
  if (threadIdx.x == 0) {
    const int64_t slot = (*cursor)++;
    if (slot < 0 || slot >= rows) return;
    double* row = log + slot * kStepLogFields;
    row[0] = static_cast<double>(*loss);
    row[1] = total;
    row[2] = flag && *flag != 0 ? 1.0 : 0.0;
  }
}

void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor, Stream s) {
  const int32_t* f = flag.defined() ? flag.data<int32_t>() : nullptr;
  double* l = log.data<double>();
  int64_t* c = cursor.data<int64_t>();
  if (loss.dtype() == DType::f32)
    step_log_kernel<float><<<1, kStepLogThreads, 0, s.handle()>>>(
        loss.data<float>(), ranks.data<int64_t>(), ranks.numel(), f, l, log.size(0), c);
  else
    step_log_kernel<double><<<1, kStepLogThreads, 0, s.handle()>>>(
        loss.data<double>(), ranks.data<int64_t>(), ranks.numel(), f, l, log.size(0), c);
  MINIDL_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace minidl
