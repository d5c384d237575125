// Per-sample transforms, run in the loader's worker threads: one fused pass from a u8 [C, H, W]
// image (any strides) to the f32 [C, h, w] slot of a batch. Geometry first, then an optional
// horizontal flip, then u8 -> f32 with per-channel normalisation:
//
//   Transform().pad_random_crop(32, 32, 4).random_flip().normalize(mean, std)    // CIFAR train
//   Transform().random_resized_crop(224, 224).random_flip().normalize(mean, std) // ImageNet train
//   Transform().resize(256).center_crop(224, 224).normalize(mean, std)           // ImageNet eval
//   Transform().normalize(mean, std)                                             // as is
//
// Randomness: sample `index` (its index in the dataset the loader reads) in `epoch` draws from
// Philox (kernels/augment.h, augment_draws) keyed by the loader's seed, so the result is a pure
// function of (seed, epoch, index) whatever the worker, batch or rank. The crop-and-flip
// geometries use the very functions of the resident GPU path (augment_plan, augment_value).
//
// Values: out = (u / 255 - mean[c]) / std[c], computed as u * scale[c] + bias[c] with
// scale = 1 / (255 std), bias = -mean / std (ToTensor() alone when no normalize is given).
// Resizing is bilinear with half-pixel centres (PyTorch's interpolate(mode="bilinear",
// align_corners=False, antialias=False)) on the u8 source, kept in f32 (no rounding to u8 as PIL
// does); downscaling does not low-pass filter first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "kernels/augment.h"

namespace minidl {

enum class Geometry {
  none,                // the image as it is
  pad_random_crop,     // zero-pad each side by `pad`, then a random out_h x out_w crop
  resize_center_crop,  // optional resize (shorter side, or exact size), optional centre crop
  random_resized_crop  // torchvision RandomResizedCrop: random box of the area and aspect ranges
};

class Transform {
 public:
  Transform& pad_random_crop(int64_t h, int64_t w, int64_t pad);
  Transform& random_resized_crop(int64_t h, int64_t w, float scale_lo = 0.08f,
                                 float scale_hi = 1.0f, float ratio_lo = 3.0f / 4.0f,
                                 float ratio_hi = 4.0f / 3.0f);
  Transform& resize(int64_t shorter_side);  // aspect kept, as torchvision's Resize(int)
  Transform& resize(int64_t h, int64_t w);  // exact size
  Transform& center_crop(int64_t h, int64_t w);
  Transform& random_flip(float p = 0.5f);
  Transform& normalize(std::vector<float> mean, std::vector<float> std);
  Transform& normalize(const ChannelStats& stats) { return normalize(stats.mean, stats.std); }

  // Output [C, h, w] for an input [C, H, W]; H and W may be -1 (unknown) when the geometry fixes
  // the output size; otherwise throws.
  Shape output_shape(const Shape& input) const;

  // Writes the transformed `image` (u8 [C, H, W], CPU, any strides) into out (f32, the
  // output_shape(image.shape()) elements, contiguous).
  void apply(const Tensor& image, uint64_t seed, int64_t epoch, int64_t index, float* out) const;

  // True when the geometry is none, a pad + random crop, or a centre crop without resize: what
  // the resident path (kernels/augment.h) runs. params() gives its parameters for `input`.
  bool crop_flip_only() const;
  CropFlipNormalize params(const Shape& input, uint64_t seed, int64_t epoch) const;

  Geometry geometry() const { return geometry_; }
  std::string str() const;  // "pad_random_crop(32x32, pad 4) + flip(0.5) + normalize(...)"

 private:
  Geometry geometry_ = Geometry::none;
  int64_t out_h_ = 0, out_w_ = 0;        // crop size (0: no crop)
  int64_t pad_ = 0;                      // pad_random_crop
  int64_t resize_short_ = 0;             // resize(shorter_side)
  int64_t resize_h_ = 0, resize_w_ = 0;  // resize(h, w)
  float scale_lo_ = 0, scale_hi_ = 0, ratio_lo_ = 0, ratio_hi_ = 0;
  float flip_p_ = 0;
  std::vector<float> mean_, std_;

  void set_geometry(Geometry g, const char* what);
  void fill_normalize(int channels, float* scale, float* bias) const;
  Shape resized_shape(int64_t h, int64_t w) const;  // after resize, before crop
  void apply_bilinear(const Tensor& image, uint64_t seed, int64_t epoch, int64_t index,
                      float* out) const;
};

// torchvision RandomResizedCrop.get_params with minidl's draws: the crop box (top, left, height,
// width) of sample `index` in `epoch` for an in_h x in_w image.
struct CropBox {
  int64_t top, left, height, width;
};
CropBox random_resized_crop_box(int64_t in_h, int64_t in_w, float scale_lo, float scale_hi,
                                float ratio_lo, float ratio_hi, uint64_t seed, int64_t epoch,
                                int64_t index);

}  // namespace minidl
