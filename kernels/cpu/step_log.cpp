// CPU step log: the hits counted in order over the ranks (an exact count, whatever the order).
#include "kernels/step_log.h"

namespace minidl {
namespace cpu {

void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor, Stream) {
  const int64_t* r = ranks.data<int64_t>();
  double hits = 0;
  for (int64_t i = 0; i < ranks.numel(); ++i) hits += top1_hit(r[i]);
  int64_t& slot = *cursor.data<int64_t>();
  if (slot < 0 || slot >= log.size(0)) {
    ++slot;
    return;
  }
  double* row = log.data<double>() + slot++ * kStepLogFields;
  row[0] = loss.dtype() == DType::f32 ? static_cast<double>(*loss.data<float>())
                                      : *loss.data<double>();
  row[1] = hits;
  row[2] = flag.defined() && *flag.data<int32_t>() != 0 ? 1.0 : 0.0;
}

}  // namespace cpu
}  // namespace minidl
