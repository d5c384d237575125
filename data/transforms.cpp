#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace minidl {

// ---- building ----

void Transform::set_geometry(Geometry g, const char* what) {
  MINIDL_CHECK(geometry_ == Geometry::none || geometry_ == g, "Transform: ", what,
               " cannot be combined with the geometry already set (", str(), ")");
  geometry_ = g;
}

Transform& Transform::pad_random_crop(int64_t h, int64_t w, int64_t pad) {
  MINIDL_CHECK(h > 0 && w > 0 && pad >= 0, "Transform::pad_random_crop: size ", h, "x", w, ", pad ",
               pad);
  set_geometry(Geometry::pad_random_crop, "pad_random_crop");
  out_h_ = h, out_w_ = w, pad_ = pad;
  return *this;
}

Transform& Transform::random_resized_crop(int64_t h, int64_t w, float scale_lo, float scale_hi,
                                          float ratio_lo, float ratio_hi) {
  MINIDL_CHECK(h > 0 && w > 0 && scale_lo > 0 && scale_lo <= scale_hi && scale_hi <= 1 &&
                   ratio_lo > 0 && ratio_lo <= ratio_hi,
               "Transform::random_resized_crop: size ", h, "x", w, ", scale [", scale_lo, ", ",
               scale_hi, "], ratio [", ratio_lo, ", ", ratio_hi, "]");
  set_geometry(Geometry::random_resized_crop, "random_resized_crop");
  out_h_ = h, out_w_ = w;
  scale_lo_ = scale_lo, scale_hi_ = scale_hi, ratio_lo_ = ratio_lo, ratio_hi_ = ratio_hi;
  return *this;
}

Transform& Transform::resize(int64_t shorter_side) {
  MINIDL_CHECK(shorter_side > 0, "Transform::resize: size ", shorter_side);
  set_geometry(Geometry::resize_center_crop, "resize");
  resize_short_ = shorter_side, resize_h_ = resize_w_ = 0;
  return *this;
}

Transform& Transform::resize(int64_t h, int64_t w) {
  MINIDL_CHECK(h > 0 && w > 0, "Transform::resize: size ", h, "x", w);
  set_geometry(Geometry::resize_center_crop, "resize");
  resize_h_ = h, resize_w_ = w, resize_short_ = 0;
  return *this;
}

Transform& Transform::center_crop(int64_t h, int64_t w) {
  MINIDL_CHECK(h > 0 && w > 0, "Transform::center_crop: size ", h, "x", w);
  set_geometry(Geometry::resize_center_crop, "center_crop");
  out_h_ = h, out_w_ = w;
  return *this;
}

Transform& Transform::random_flip(float p) {
  MINIDL_CHECK(p >= 0 && p <= 1, "Transform::random_flip: probability ", p);
  flip_p_ = p;
  return *this;
}

Transform& Transform::normalize(std::vector<float> mean, std::vector<float> std) {
  MINIDL_CHECK(!mean.empty() && mean.size() == std.size() &&
                   mean.size() <= static_cast<size_t>(kAugmentMaxChannels),
               "Transform::normalize: ", mean.size(), " means and ", std.size(), " stds (1 to ",
               kAugmentMaxChannels, " channels)");
  for (float s : std) MINIDL_CHECK(s > 0, "Transform::normalize: std ", s, " must be positive");
  mean_ = std::move(mean), std_ = std::move(std);
  return *this;
}

std::string Transform::str() const {
  std::ostringstream os;
  switch (geometry_) {
    case Geometry::none:
      os << "identity";
      break;
    case Geometry::pad_random_crop:
      os << "pad_random_crop(" << out_h_ << "x" << out_w_ << ", pad " << pad_ << ")";
      break;
    case Geometry::random_resized_crop:
      os << "random_resized_crop(" << out_h_ << "x" << out_w_ << ", scale [" << scale_lo_ << ", "
         << scale_hi_ << "], ratio [" << ratio_lo_ << ", " << ratio_hi_ << "])";
      break;
    case Geometry::resize_center_crop:
      if (resize_short_) os << "resize(" << resize_short_ << ")";
      if (resize_h_) os << "resize(" << resize_h_ << "x" << resize_w_ << ")";
      if (out_h_)
        os << (resize_short_ || resize_h_ ? " + " : "") << "center_crop(" << out_h_ << "x" << out_w_
           << ")";
  }
  if (flip_p_ > 0) os << " + flip(" << flip_p_ << ")";
  if (!mean_.empty()) {
    os << " + normalize(mean";
    for (float m : mean_) os << ' ' << m;
    os << ", std";
    for (float s : std_) os << ' ' << s;
    os << ")";
  }
  return os.str();
}

// ---- shapes ----

Shape Transform::resized_shape(int64_t h, int64_t w) const {
  if (resize_h_) return {resize_h_, resize_w_};
  if (!resize_short_) return {h, w};
  if (h < 0 || w < 0) return {-1, -1};
  // torchvision: the shorter side becomes `size`, the longer int(size * long / short).
  if (w <= h)
    return {static_cast<int64_t>(static_cast<double>(resize_short_) * h / w), resize_short_};
  return {resize_short_, static_cast<int64_t>(static_cast<double>(resize_short_) * w / h)};
}

Shape Transform::output_shape(const Shape& input) const {
  MINIDL_CHECK(input.size() == 3 && input[0] >= 1 && input[0] <= kAugmentMaxChannels,
               "Transform: input must be [C, H, W] with 1 to ", kAugmentMaxChannels,
               " channels, got ", shape_str(input));
  MINIDL_CHECK(mean_.empty() || mean_.size() == 1 || static_cast<int64_t>(mean_.size()) == input[0],
               "Transform: normalize has ", mean_.size(), " channels, images have ", input[0]);
  Shape hw = {input[1], input[2]};
  if (out_h_ > 0) {
    hw = {out_h_, out_w_};
  } else if (geometry_ == Geometry::resize_center_crop) {
    hw = resized_shape(input[1], input[2]);
  }
  MINIDL_CHECK(hw[0] > 0 && hw[1] > 0, "Transform ", str(), ": images of shape ", shape_str(input),
               " vary in size; add a crop or an exact resize so batches have one");
  return {input[0], hw[0], hw[1]};
}

bool Transform::crop_flip_only() const {
  return geometry_ == Geometry::none || geometry_ == Geometry::pad_random_crop ||
         (geometry_ == Geometry::resize_center_crop && !resize_short_ && !resize_h_);
}

void Transform::fill_normalize(int channels, float* scale, float* bias) const {
  for (int c = 0; c < channels; ++c) {
    if (mean_.empty()) {
      scale[c] = static_cast<float>(1.0 / 255.0), bias[c] = 0.f;
      continue;
    }
    double m = mean_[mean_.size() == 1 ? 0 : c], s = std_[std_.size() == 1 ? 0 : c];
    scale[c] = static_cast<float>(1.0 / (255.0 * s));
    bias[c] = static_cast<float>(-m / s);
  }
}

CropFlipNormalize Transform::params(const Shape& input, uint64_t seed, int64_t epoch) const {
  MINIDL_CHECK(crop_flip_only(), "Transform ", str(),
               ": the resident (GPU) path runs only crops, flips and normalisation");
  Shape out = output_shape(input);
  MINIDL_CHECK(input[1] > 0 && input[2] > 0, "Transform: the resident path needs one image size");
  CropFlipNormalize p;
  p.channels = static_cast<int>(input[0]);
  p.in_h = input[1], p.in_w = input[2], p.out_h = out[1], p.out_w = out[2];
  p.pad = pad_;
  p.random_crop = geometry_ == Geometry::pad_random_crop;
  MINIDL_CHECK(!p.random_crop || (p.out_h <= p.in_h + 2 * p.pad && p.out_w <= p.in_w + 2 * p.pad),
               "Transform ", str(), ": the crop is larger than a ", p.in_h, "x", p.in_w,
               " image padded by ", p.pad);
  p.flip_p = flip_p_;
  fill_normalize(p.channels, p.scale, p.bias);
  p.seed = seed, p.epoch = static_cast<uint64_t>(epoch);
  return p;
}

// ---- applying ----

void Transform::apply(const Tensor& image, uint64_t seed, int64_t epoch, int64_t index,
                      float* out) const {
  MINIDL_CHECK(image.dtype() == DType::u8 && image.dim() == 3 && image.device().is_cpu(),
               "Transform: sample ", index, " must be a CPU u8 [C, H, W] image, got ", image.str());
  if (!crop_flip_only()) return apply_bilinear(image, seed, epoch, index, out);
  CropFlipNormalize p = params(image.shape(), seed, epoch);
  const AugmentPlan plan = augment_plan(p, index);
  const uint8_t* src = image.data<uint8_t>();
  for (int c = 0; c < p.channels; ++c)
    for (int64_t y = 0; y < p.out_h; ++y)
      for (int64_t x = 0; x < p.out_w; ++x)
        *out++ =
            augment_value(p, plan, src, image.stride(0), image.stride(1), image.stride(2), c, y, x);
}

}  // namespace minidl
