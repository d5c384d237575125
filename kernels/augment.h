// augment: pad + crop + horizontal flip + per-channel normalise of a batch gathered from a whole
// u8 dataset, for the GPU-resident data path (data/loader.h, `resident`), with a CPU twin.
//
// The randomness of sample `index` in `epoch` is a pure function of (seed, epoch, index) through
// Philox (augment_draws), never of thread timing or batch composition. The CPU transform path
// (data/transforms.cpp) calls the same augment_plan / augment_value below for its pad-crop and
// centre-crop geometries, so a resident batch equals the per-sample transformed batch bit for bit,
// and the CUDA twin equals the CPU twin bit for bit (only integer math, det_mul and det_add).
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#include "core/philox.h"
#include "kernels/random.h"

namespace minidl {

constexpr int kAugmentMaxChannels = 4;

// Philox key salt for data randomness, so that a data seed equal to a weight-init seed does not
// reuse the same numbers ("minidlda").
constexpr uint64_t kDataSeedSalt = 0x6D696E69646C6461ull;

// Block numbers (the counter's last word) of the data draws. Each block gives four 32-bit words.
//   kDrawCropFlip: v0 flip, v1 crop row, v2 crop column
//   kDrawResizedCrop + attempt (0..9): v0 area scale, v1 log aspect ratio, v2 row, v3 column
//   kDrawShuffle: the epoch's shuffle key of a sample (v0, v1)
//   kDrawHoldout: the key that picks the validation split (epoch word 0)
constexpr uint32_t kDrawCropFlip = 0;
constexpr uint32_t kDrawResizedCrop = 1;
constexpr uint32_t kDrawShuffle = 0x80000000u;
constexpr uint32_t kDrawHoldout = 0x80000001u;

// The draws of sample `index` in `epoch`: counter (index lo, index hi, epoch, block), key = salted
// seed.
MINIDL_HD Philox4 augment_draws(uint64_t seed, uint64_t epoch, uint64_t index, uint32_t block) {
  uint64_t key = seed ^ kDataSeedSalt;
  Philox4 ctr{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
               static_cast<uint32_t>(epoch), block}};
  return philox4x32_10(ctr, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
}

// A 32-bit draw to an integer in [0, n) (n >= 1): the high word of draw * n, exact everywhere.
MINIDL_HD int64_t draw_below(uint32_t draw, int64_t n) {
  return static_cast<int64_t>((static_cast<uint64_t>(draw) * static_cast<uint64_t>(n)) >> 32);
}

// Crop origin offset: torchvision's CenterCrop, int(round((in - out) / 2.0)) with Python's round
// half to even; when the crop is larger than the image the image sits at ((out - in) // 2).
MINIDL_HD int64_t center_crop_offset(int64_t in, int64_t out) {
  int64_t d = in - out;
  if (d < 0) return -((-d) / 2);
  int64_t top = d / 2;
  if (d % 2 == 1 && top % 2 == 1) top += 1;  // k + 0.5 rounds to the even neighbour
  return top;
}

// Pad + crop + flip + normalise. Source images u8 [C, in_h, in_w] (strides in elements), output
// f32 [C, out_h, out_w]. Output (c, y, x) reads the source at (y + oy, x' + ox) where x' = out_w -
// 1
// - x when flipped, else x; outside the source (the zero padding) the value is 0.
// Normalised value = u * scale[c] + bias[c] (= (u / 255 - mean) / std).
struct CropFlipNormalize {
  int channels = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t pad = 0;           // zero padding on each side before a random crop
  bool random_crop = false;  // false: centre crop of the unpadded image
  float flip_p = 0.f;        // probability of a horizontal flip (0: never)
  float scale[kAugmentMaxChannels] = {};
  float bias[kAugmentMaxChannels] = {};
  uint64_t seed = 0, epoch = 0;
};

// Where the crop of sample `index` starts in source coordinates, and whether it is flipped.
struct AugmentPlan {
  int64_t oy, ox;
  bool flip;
};

MINIDL_HD AugmentPlan augment_plan(const CropFlipNormalize& p, int64_t index) {
  Philox4 r = augment_draws(p.seed, p.epoch, static_cast<uint64_t>(index), kDrawCropFlip);
  AugmentPlan plan;
  if (p.random_crop) {
    plan.oy = draw_below(r.v[1], p.in_h + 2 * p.pad - p.out_h + 1) - p.pad;
    plan.ox = draw_below(r.v[2], p.in_w + 2 * p.pad - p.out_w + 1) - p.pad;
  } else {
    plan.oy = center_crop_offset(p.in_h, p.out_h);
    plan.ox = center_crop_offset(p.in_w, p.out_w);
  }
  plan.flip = p.flip_p > 0.f && uint_to_unit_float(r.v[0]) < p.flip_p;
  return plan;
}

// u8 value to normalised f32, the one formula every data path uses.
MINIDL_HD float normalize_u8(float u, float scale, float bias) {
  return det_add(det_mul(u, scale), bias);
}

// Output element (c, y, x) of one sample; `img` points at the sample's [C, H, W] u8 data.
MINIDL_HD float augment_value(const CropFlipNormalize& p, const AugmentPlan& plan,
                              const uint8_t* img, int64_t stride_c, int64_t stride_h,
                              int64_t stride_w, int c, int64_t y, int64_t x) {
  int64_t sy = y + plan.oy;
  int64_t sx = (plan.flip ? p.out_w - 1 - x : x) + plan.ox;
  float u = 0.f;
  if (sy >= 0 && sy < p.in_h && sx >= 0 && sx < p.in_w)
    u = static_cast<float>(img[c * stride_c + sy * stride_h + sx * stride_w]);
  return normalize_u8(u, p.scale[c], p.bias[c]);
}

// ---- twins and op ----

// images: u8 [N, C, H, W] contiguous (the whole dataset); labels: i64 [N]; indices: i64 [B] (which
// samples form the batch, each in [0, N)); out_images: f32 [B, C, out_h, out_w]; out_labels: i64
// [B]. All on one device.
namespace cpu {
void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p,
                   Stream s);
}
namespace cuda {
void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p,
                   Stream s);
}

// Checks shapes, dtypes, devices and parameters (kernels/augment.cpp), then runs the twin of the
// tensors' device. Indices out of range are checked on the CPU; on CUDA they are the caller's
// contract (the loader builds them).
void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p);

}  // namespace minidl
