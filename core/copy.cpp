#include "core/copy.h"

namespace minidl {

StridedPair make_strided_pair(const Tensor& dst, const Tensor& src) {
  StridedPair p{};
  p.dims = 0;
  for (int d = 0; d < dst.dim(); ++d) {
    if (dst.size(d) == 1) continue;
    p.size[p.dims] = dst.size(d);
    p.dst_stride[p.dims] = dst.stride(d);
    p.src_stride[p.dims] = src.stride(d);
    ++p.dims;
  }
  return p;
}

// Dense and laid out alike: the bytes of one are the bytes of the other.
static bool same_dense_layout(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return false;
  if (a.is_contiguous() && b.is_contiguous()) return true;
  return a.dim() == 4 && a.is_contiguous(MemoryFormat::channels_last) &&
         b.is_contiguous(MemoryFormat::channels_last);
}

void copy(const Tensor& dst, const Tensor& src) {
  check_defined("copy", dst, "dst");
  check_defined("copy", src, "src");
  check_same_shape("copy", dst, "dst", src, "src");
  if (dst.numel() == 0) return;
  if (dst.device() == src.device()) {
    if (same_dense_layout(dst, src)) {
      copy_bytes(dst.data_ptr(), dst.device(), src.data_ptr(), src.device(), dst.nbytes());
    } else {
      MINIDL_DISPATCH(dst.device(), copy_same_device, dst, src);
    }
    return;
  }
  // Across devices only dense bytes travel: make src dense on its side (in dst's layout, so a
  // channels-last tensor travels as it is), send, convert on arrival.
  Tensor dense = src.contiguous(dst.memory_format());
  const bool direct = same_dense_layout(dst, dense);
  Tensor target =
      direct ? dst : Tensor::empty(src.shape(), src.dtype(), dst.device(), dst.memory_format());
  copy_bytes(target.data_ptr(), target.device(), dense.data_ptr(), dense.device(), target.nbytes());
  // A copy to the GPU from pinned memory runs after copy_bytes returns: the source must not be
  // handed out again before it has been read (a no-op for pageable memory, which CUDA stages
  // before returning, and for device sources of the same stream).
  if (dst.device().is_cuda()) dense.record_stream(current_stream(dst.device()));
  if (!direct) copy(dst, target);
}

}  // namespace minidl
