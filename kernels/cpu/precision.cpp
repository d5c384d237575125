// CPU rounding to bf16 or f16 precision: a plain loop over parallel chunks of the header's element
// math. Each element is read and written at one index, so out may be x.
#include "kernels/precision.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;  // elementwise.cpp's

void round_to_precision(const Tensor& x, DType precision, const Tensor& out, Stream) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  if (precision == DType::bf16) {
    parallel_for(x.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = round_to_bf16_element(px[i]);
    });
  } else {
    parallel_for(x.numel(), kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = round_to_f16_element(px[i]);
    });
  }
}

}  // namespace cpu
}  // namespace minidl
