#include "core/copy.h"
#include "core/cuda/launch.cuh"

namespace minidl {
namespace cuda {

template <typename D, typename S>
static void copy_typed(const Tensor& dst, const Tensor& src, Stream stream) {
  D* d = static_cast<D*>(dst.data_ptr());
  const S* s = static_cast<const S*>(src.data_ptr());
  if (dst.is_contiguous() && src.is_contiguous()) {
    launch_elementwise(dst.numel(), stream,
                       [=] __device__(int64_t i) { d[i] = cast_value<D>(s[i]); });
    return;
  }
  StridedPair p = make_strided_pair(dst, src);
  launch_elementwise(dst.numel(), stream, [=] __device__(int64_t i) {
    int64_t od, os;
    strided_pair_offsets(p, i, od, os);
    d[od] = cast_value<D>(s[os]);
  });
}

void copy_same_device(const Tensor& dst, const Tensor& src, Stream stream) {
  visit_dtype(dst.dtype(), [&](auto dst_zero) {
    visit_dtype(src.dtype(), [&](auto src_zero) {
      copy_typed<decltype(dst_zero), decltype(src_zero)>(dst, src, stream);
    });
  });
}

}  // namespace cuda
}  // namespace minidl
