#include "kernels/random.h"

#include "core/parallel.h"

namespace minidl {
namespace cpu {

void random_fill(const Tensor& t, RandomSpec spec, Stream) {
  int64_t n = t.numel();
  if (t.dtype() == DType::u8) {
    uint8_t* p = t.data<uint8_t>();
    parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = static_cast<uint8_t>(random_element(spec, i));
    });
    return;
  }
  float* p = t.data<float>();
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = random_element(spec, i);
  });
}

}  // namespace cpu
}  // namespace minidl
