// subsample_pad_channels: the ResNet paper's "option A" shortcut (layers/zero_pad_shortcut.h) and
// its backward: subsample by `stride`, then add zero channels.
//   x [N, Cx, H, W] -> y [N, Cy, ceil(H/s), ceil(W/s)], Cy >= Cx:
//   y[n, c, h, w] = x[n, c - front, h*s, w*s] for front <= c < front + Cx, else 0.
// front = 0 appends the zero channels (fb.resnet.torch); front = (Cy - Cx) / 2 pads both sides (the
// common PyTorch CIFAR ResNets' F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))). Both layouts;
// f32, f64, bf16 and f16 (a copy: the same bits).
#pragma once

#include "core/dispatch.h"
#include "kernels/image_layout.h"

namespace minidl {

struct SubsamplePad {
  ImageLayout x, y;
  int64_t stride, front;
};

// ---- element math ----
// One element each way, for the CUDA twin's one thread per element. The CPU twin walks planes and
// rows instead (no coordinate divisions per element); tests/layers/test_containers.cpp checks it
// against these functions bit for bit.

template <typename T>
MINIDL_HD T subsample_pad_channels_element(const T* x, const SubsamplePad& p, int64_t j) {
  int64_t n, c, h, w;
  image_coords(p.y, j, n, c, h, w);
  const int64_t cx = c - p.front;
  if (cx < 0 || cx >= p.x.C) return T(0);
  return x[image_offset(p.x, n, cx, h * p.stride, w * p.stride)];
}

template <typename T>
MINIDL_HD T subsample_pad_channels_backward_element(const T* dy, const SubsamplePad& p, int64_t i) {
  int64_t n, c, h, w;
  image_coords(p.x, i, n, c, h, w);
  if (h % p.stride != 0 || w % p.stride != 0) return T(0);
  return dy[image_offset(p.y, n, c + p.front, h / p.stride, w / p.stride)];
}

// ---- twins ----
// One function each way: backward = false writes y (out) from x (in) with the forward element,
// backward = true writes dx (out) from dy (in) with the backward element.

namespace cpu {
void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream s);
}
namespace cuda {
void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream s);
}

// ---- the ops ----

// y: [N, Cy, ceil(H / stride), ceil(W / stride)], x's dtype and layout; 0 <= front <= Cy - Cx.
void subsample_pad_channels_forward(const Tensor& x, const Tensor& y, int64_t stride,
                                    int64_t front);
// dx (x's shape and layout) from dy.
void subsample_pad_channels_backward(const Tensor& dy, const Tensor& dx, int64_t stride,
                                     int64_t front);

}  // namespace minidl
