#include "core/copy.h"

#include "core/parallel.h"

namespace minidl {
namespace cpu {

void copy_same_device(const Tensor& dst, const Tensor& src, Stream) {
  StridedPair p = make_strided_pair(dst, src);
  visit_dtype(dst.dtype(), [&](auto dst_zero) {
    visit_dtype(src.dtype(), [&](auto src_zero) {
      using D = decltype(dst_zero);
      using S = decltype(src_zero);
      D* d = static_cast<D*>(dst.data_ptr());
      const S* s = static_cast<const S*>(src.data_ptr());
      bool dense = dst.is_contiguous() && src.is_contiguous();
      parallel_for(dst.numel(), 1 << 15, [&](int64_t b, int64_t e) {
        if (dense) {  // a plain conversion loop
          for (int64_t i = b; i < e; ++i) d[i] = cast_value<D>(s[i]);
          return;
        }
        for (int64_t i = b; i < e; ++i) {
          int64_t od, os;
          strided_pair_offsets(p, i, od, os);
          d[od] = cast_value<D>(s[os]);
        }
      });
    });
  });
}

}  // namespace cpu
}  // namespace minidl
