// The resampling half of Transform (data/transforms.h): resize, resize + centre crop and random
// resized crop, fused with flip and normalisation in one bilinear pass.
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/transforms.h"

namespace minidl {

CropBox random_resized_crop_box(int64_t in_h, int64_t in_w, float scale_lo, float scale_hi,
                                float ratio_lo, float ratio_hi, uint64_t seed, int64_t epoch,
                                int64_t index) {
  const double area = static_cast<double>(in_h) * in_w;
  const double log_lo = std::log(ratio_lo), log_hi = std::log(ratio_hi);
  for (uint32_t attempt = 0; attempt < 10; ++attempt) {
    Philox4 r = augment_draws(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index),
                              kDrawResizedCrop + attempt);
    double target = area * (scale_lo + (scale_hi - scale_lo) * uint_to_unit_float(r.v[0]));
    double aspect = std::exp(log_lo + (log_hi - log_lo) * uint_to_unit_float(r.v[1]));
    // Python's round() is half to even, as nearbyint in the default rounding mode.
    int64_t w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    int64_t h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (w > 0 && w <= in_w && h > 0 && h <= in_h)
      return {draw_below(r.v[2], in_h - h + 1), draw_below(r.v[3], in_w - w + 1), h, w};
  }
  // torchvision's fallback: a centre crop of the whole image, its aspect clamped to the range.
  double in_ratio = static_cast<double>(in_w) / in_h;
  int64_t w = in_w, h = in_h;
  if (in_ratio < ratio_lo) {
    h = static_cast<int64_t>(std::nearbyint(w / static_cast<double>(ratio_lo)));
  } else if (in_ratio > ratio_hi) {
    w = static_cast<int64_t>(std::nearbyint(h * static_cast<double>(ratio_hi)));
  }
  return {(in_h - h) / 2, (in_w - w) / 2, h, w};
}

namespace {

// One output coordinate's two source taps along an axis; valid = false where the output lies
// outside the (resized) image, which a centre crop larger than the image causes (zero there).
struct Tap {
  int64_t i0, i1;
  float w0, w1;
  bool valid;
};

// Output o reads resized coordinate r = o + offset of a `resized`-long axis that maps onto the
// source range [start, start + len): src = (r + 0.5) * len / resized - 0.5, clamped at 0 (PyTorch's
// align_corners=False rule), the right tap clamped to the range.
std::vector<Tap> axis_taps(int64_t out, int64_t offset, int64_t resized, int64_t start,
                           int64_t len) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  const float scale = static_cast<float>(len) / static_cast<float>(resized);
  for (int64_t o = 0; o < out; ++o) {
    int64_t r = o + offset;
    if (r < 0 || r >= resized) {
      taps[o] = {0, 0, 0.f, 0.f, false};
      continue;
    }
    float src = std::max((static_cast<float>(r) + 0.5f) * scale - 0.5f, 0.f);
    int64_t i0 = std::min(static_cast<int64_t>(src), len - 1);
    int64_t i1 = std::min(i0 + 1, len - 1);
    float l1 = std::min(src - static_cast<float>(i0), 1.f);
    taps[o] = {start + i0, start + i1, 1.f - l1, l1, true};
  }
  return taps;
}

}  // namespace

void Transform::apply_bilinear(const Tensor& image, uint64_t seed, int64_t epoch, int64_t index,
                               float* out) const {
  const Shape out_shape = output_shape(image.shape());
  const int channels = static_cast<int>(image.size(0));
  const int64_t in_h = image.size(1), in_w = image.size(2), oh = out_shape[1], ow = out_shape[2];
  std::vector<Tap> ty, tx;
  if (geometry_ == Geometry::random_resized_crop) {
    CropBox b = random_resized_crop_box(in_h, in_w, scale_lo_, scale_hi_, ratio_lo_, ratio_hi_,
                                        seed, epoch, index);
    ty = axis_taps(oh, 0, oh, b.top, b.height);
    tx = axis_taps(ow, 0, ow, b.left, b.width);
  } else {  // resize, then a centre crop of the resized image when one is asked for
    Shape rs = resized_shape(in_h, in_w);
    int64_t top = out_h_ ? center_crop_offset(rs[0], oh) : 0;
    int64_t left = out_h_ ? center_crop_offset(rs[1], ow) : 0;
    ty = axis_taps(oh, top, rs[0], 0, in_h);
    tx = axis_taps(ow, left, rs[1], 0, in_w);
  }
  Philox4 r = augment_draws(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index),
                            kDrawCropFlip);
  if (flip_p_ > 0.f && uint_to_unit_float(r.v[0]) < flip_p_) std::reverse(tx.begin(), tx.end());
  float scale[kAugmentMaxChannels], bias[kAugmentMaxChannels];
  fill_normalize(channels, scale, bias);
  const uint8_t* src = image.data<uint8_t>();
  const int64_t sc = image.stride(0), sy = image.stride(1), sx = image.stride(2);
  for (int c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < oh; ++y) {
      const Tap& a = ty[y];
      const uint8_t* row0 = src + c * sc + a.i0 * sy;
      const uint8_t* row1 = src + c * sc + a.i1 * sy;
      for (int64_t x = 0; x < ow; ++x) {
        const Tap& b = tx[x];
        float v = 0.f;
        if (a.valid && b.valid) {
          float top = b.w0 * row0[b.i0 * sx] + b.w1 * row0[b.i1 * sx];
          float bottom = b.w0 * row1[b.i0 * sx] + b.w1 * row1[b.i1 * sx];
          v = a.w0 * top + a.w1 * bottom;
        }
        *out++ = normalize_u8(v, scale[c], bias[c]);
      }
    }
  }
}

}  // namespace minidl
