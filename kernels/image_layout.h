// Where element (n, c, h, w) of a 4-d image tensor lives, for the two dense layouts minidl uses:
// NCHW (contiguous) and NHWC (channels-last, the CUDA fast path). Shared by the image op families
// (pool, lrn, subsample_pad_channels, batchnorm): their element functions take logical coordinates and ask
// image_offset() for the memory offset, so one function serves both layouts on both twins.
#pragma once

#include "core/macros.h"
#include "core/tensor.h"

namespace minidl {

struct ImageLayout {
  int64_t N = 0, C = 0, H = 0, W = 0;
  bool channels_last = false;
};

MINIDL_HD int64_t image_offset(const ImageLayout& l, int64_t n, int64_t c, int64_t h, int64_t w) {
  return l.channels_last ? ((n * l.H + h) * l.W + w) * l.C + c
                         : ((n * l.C + c) * l.H + h) * l.W + w;
}

// The coordinates of the element at memory offset i (the inverse of image_offset).
MINIDL_HD void image_coords(const ImageLayout& l, int64_t i, int64_t& n, int64_t& c, int64_t& h,
                            int64_t& w) {
  if (l.channels_last) {
    c = i % l.C;
    i /= l.C;
    w = i % l.W;
    i /= l.W;
    h = i % l.H;
    n = i / l.H;
  } else {
    w = i % l.W;
    i /= l.W;
    h = i % l.H;
    i /= l.H;
    c = i % l.C;
    n = i / l.C;
  }
}

// The layout of a dense 4-d tensor; throws (naming `op` and `name`) for anything else. A tensor
// that is both (C == 1, or H == W == 1) counts as NCHW.
inline ImageLayout image_layout(const char* op, const Tensor& t, const char* name) {
  MINIDL_CHECK(t.defined() && t.dim() == 4, op, ": ", name,
               " must be a 4-d [N, C, H, W] tensor, got ",
               t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
  ImageLayout l{t.size(0), t.size(1), t.size(2), t.size(3), false};
  if (t.is_contiguous()) return l;
  MINIDL_CHECK(t.is_contiguous(MemoryFormat::channels_last), op, ": ", name, " ",
               shape_str(t.shape()), " must be dense (contiguous NCHW or channels-last NHWC)");
  l.channels_last = true;
  return l;
}

// The memory format of a dense tensor: channels_last only for a 4-d NHWC one that is not also
// contiguous (one channel, or 1x1 planes, are both).
inline MemoryFormat layout_of(const Tensor& like) {
  bool cl =
      like.dim() == 4 && !like.is_contiguous() && like.is_contiguous(MemoryFormat::channels_last);
  return cl ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}

// A new tensor of `shape` with the memory format of `like` (channels-last stays channels-last),
// of like's dtype or of `dtype`.
inline Tensor empty_like_layout(const Shape& shape, const Tensor& like, DType dtype) {
  return Tensor::empty(shape, dtype, like.device(), layout_of(like));
}
inline Tensor empty_like_layout(const Shape& shape, const Tensor& like) {
  return empty_like_layout(shape, like, like.dtype());
}

// t in the memory format of `like` (a copy only when they differ).
inline Tensor match_layout(const Tensor& t, const Tensor& like) {
  bool cl =
      like.dim() == 4 && !like.is_contiguous() && like.is_contiguous(MemoryFormat::channels_last);
  return t.contiguous(cl ? MemoryFormat::channels_last : MemoryFormat::contiguous);
}

}  // namespace minidl
