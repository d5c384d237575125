#include "core/fill.h"

#include "core/parallel.h"

namespace minidl {
namespace cpu {

void fill(const Tensor& t, double value, Stream) {
  visit_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T v = cast_value<T>(value);
    T* p = static_cast<T*>(t.data_ptr());
    parallel_for(t.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = v;
    });
  });
}

}  // namespace cpu
}  // namespace minidl
