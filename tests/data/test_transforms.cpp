// Transforms against independent formulas: normalisation, pad + crop, flip, centre-crop offsets
// (torchvision's rounding), bilinear resizing (PyTorch's align_corners=False rule, recomputed here
// in double), random-resized-crop boxes (torchvision's get_params rules).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data/transforms.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_u8;

std::vector<float> run(const Transform& t, const Tensor& img, int64_t index, uint64_t seed = 1,
                       int64_t epoch = 0) {
  std::vector<float> out(static_cast<size_t>(shape_numel(t.output_shape(img.shape()))));
  t.apply(img, seed, epoch, index, out.data());
  return out;
}

TEST(Transforms, NormalizeAndToTensor) {
  Tensor img = random_u8({3, 4, 5}, 1);
  std::vector<uint8_t> u = testing::bytes_of(img);
  std::vector<float> mean = {0.4914f, 0.4822f, 0.4465f}, std = {0.247f, 0.243f, 0.261f};
  std::vector<float> n = run(Transform().normalize(mean, std), img, 0);
  std::vector<float> plain = run(Transform(), img, 0);
  for (size_t i = 0; i < u.size(); ++i) {
    size_t c = i / 20;
    EXPECT_NEAR(n[i], (u[i] / 255.0 - mean[c]) / std[c], 2e-6) << i;
    EXPECT_NEAR(plain[i], u[i] / 255.0, 1e-7) << i;
  }
}

// The value of a [C, H, W] image padded by `pad` at (c, y, x) of the padded image.
int padded(const std::vector<uint8_t>& u, int64_t h, int64_t w, int64_t pad, int64_t c, int64_t y,
           int64_t x) {
  y -= pad, x -= pad;
  return (y < 0 || y >= h || x < 0 || x >= w) ? 0 : u[(c * h + y) * w + x];
}

TEST(Transforms, PadRandomCropAndFlipCoverEveryOffset) {
  const int64_t h = 6, w = 7, pad = 2, oh = 5, ow = 6;
  Tensor img = random_u8({2, h, w}, 2);
  std::vector<uint8_t> u = testing::bytes_of(img);
  Transform t = Transform().pad_random_crop(oh, ow, pad).random_flip(0.5f);
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  for (int64_t index = 0; index < 2000; ++index) {
    std::vector<float> out = run(t, img, index);
    // find the offset and flip that explain the output
    int matches = 0;
    for (int64_t oy = 0; oy <= h + 2 * pad - oh; ++oy)
      for (int64_t ox = 0; ox <= w + 2 * pad - ow; ++ox)
        for (bool flip : {false, true}) {
          bool ok = true;
          for (int64_t c = 0; c < 2 && ok; ++c)
            for (int64_t y = 0; y < oh && ok; ++y)
              for (int64_t x = 0; x < ow && ok; ++x) {
                int64_t sx = flip ? ow - 1 - x : x;
                float want = padded(u, h, w, pad, c, y + oy, sx + ox) / 255.0f;
                ok = std::fabs(out[(c * oh + y) * ow + x] - want) < 1e-6f;
              }
          if (ok) ++matches, seen.insert({oy, ox, flip});
        }
    EXPECT_GE(matches, 1) << "sample " << index << " is no padded crop";
  }
  // (6 - 5 + 1 + 4) x (7 - 6 + 1 + 4) offsets x 2 flips = 72 combinations, all drawn
  EXPECT_EQ(seen.size(), 72u);
}

TEST(Transforms, PureFunctionOfSeedEpochIndex) {
  Tensor img = random_u8({3, 32, 32}, 3);
  Transform t = Transform().pad_random_crop(32, 32, 4).random_flip();
  EXPECT_EQ(run(t, img, 5, 7, 2), run(t, img, 5, 7, 2));
  int differ_epoch = 0, differ_seed = 0, differ_index = 0;
  for (int64_t i = 0; i < 20; ++i) {
    differ_epoch += run(t, img, i, 7, 2) != run(t, img, i, 7, 3);
    differ_seed += run(t, img, i, 7, 2) != run(t, img, i, 8, 2);
    differ_index += run(t, img, i, 7, 2) != run(t, img, i + 1000, 7, 2);
  }
  EXPECT_GE(differ_epoch, 18);  // 162 crop/flip combinations: a repeat is rare
  EXPECT_GE(differ_seed, 18);
  EXPECT_GE(differ_index, 18);
}

TEST(Transforms, FlipProbability) {
  Tensor img = random_u8({1, 1, 2}, 4);  // two different pixels: flipped or not
  std::vector<uint8_t> u = testing::bytes_of(img);
  ASSERT_NE(u[0], u[1]);
  for (float p : {0.f, 0.3f, 1.f}) {
    int flips = 0;
    for (int64_t i = 0; i < 4000; ++i) {
      float first = run(Transform().random_flip(p), img, i)[0];
      flips += std::fabs(first - u[1] / 255.0f) < std::fabs(first - u[0] / 255.0f);
    }
    EXPECT_NEAR(flips / 4000.0, p, 0.03) << p;
  }
}

TEST(Transforms, CenterCropRoundsLikeTorchvision) {
  // torchvision: top = int(round((in - out) / 2.0)), Python rounding half to even
  EXPECT_EQ(center_crop_offset(5, 4), 0);   // 0.5 -> 0
  EXPECT_EQ(center_crop_offset(7, 4), 2);   // 1.5 -> 2
  EXPECT_EQ(center_crop_offset(9, 4), 2);   // 2.5 -> 2
  EXPECT_EQ(center_crop_offset(11, 4), 4);  // 3.5 -> 4
  EXPECT_EQ(center_crop_offset(8, 4), 2);
  EXPECT_EQ(center_crop_offset(4, 7), -1);  // a larger crop pads: (7 - 4) // 2 = 1 before
  Tensor img = random_u8({1, 4, 4}, 5);
  std::vector<uint8_t> u = testing::bytes_of(img);
  std::vector<float> out = run(Transform().center_crop(6, 7), img, 0);
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 7; ++x) {
      int64_t sy = y - 1, sx = x - 1;  // (6-4)//2 = 1, (7-4)//2 = 1
      float want = (sy < 0 || sy >= 4 || sx < 0 || sx >= 4) ? 0.f : u[sy * 4 + sx] / 255.0f;
      EXPECT_FLOAT_EQ(out[y * 7 + x], want) << y << "," << x;
    }
}

// PyTorch's bilinear (align_corners=False, no antialias) of a [C, H, W] u8 image's box, in double.
std::vector<double> reference_resize(const std::vector<uint8_t>& u, int64_t c_n, int64_t h,
                                     int64_t w, int64_t top, int64_t left, int64_t bh, int64_t bw,
                                     int64_t oh, int64_t ow) {
  auto src = [](int64_t o, int64_t in, int64_t out) {
    double s = (o + 0.5) * static_cast<double>(in) / out - 0.5;
    return s < 0 ? 0.0 : s;
  };
  std::vector<double> r;
  for (int64_t c = 0; c < c_n; ++c)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        double sy = src(y, bh, oh), sx = src(x, bw, ow);
        int64_t y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx);
        int64_t y1 = std::min(y0 + 1, bh - 1), x1 = std::min(x0 + 1, bw - 1);
        double ly = sy - y0, lx = sx - x0;
        auto at = [&](int64_t yy, int64_t xx) { return u[(c * h + top + yy) * w + left + xx]; };
        r.push_back((1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) +
                    ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1)));
      }
  return r;
}

TEST(Transforms, ResizeIsPyTorchBilinear) {
  Tensor img = random_u8({3, 5, 7}, 6);
  std::vector<uint8_t> u = testing::bytes_of(img);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{3, 4}, {9, 13}, {5, 7}}) {
    std::vector<float> out = run(Transform().resize(oh, ow), img, 0);
    std::vector<double> ref = reference_resize(u, 3, 5, 7, 0, 0, 5, 7, oh, ow);
    ASSERT_EQ(out.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(out[i] * 255.0, ref[i], 2e-3) << i;
  }
}

TEST(Transforms, ResizeShorterSideThenCenterCrop) {
  Transform t = Transform().resize(256);
  EXPECT_EQ(t.output_shape({3, 375, 500}), Shape({3, 256, 341}));  // int(256 * 500 / 375)
  EXPECT_EQ(t.output_shape({3, 500, 375}), Shape({3, 341, 256}));
  EXPECT_MINIDL_ERROR(t.output_shape({3, -1, -1}), "vary in size");
  Transform e = Transform().resize(8).center_crop(8, 8);
  EXPECT_EQ(e.output_shape({3, -1, -1}), Shape({3, 8, 8}));
  // 6x12 -> resize(8) -> 8x16 -> centre 8x8 at left (16 - 8) / 2 = 4: the reference resizes the
  // whole image to 8x16 and the crop takes columns 4..11.
  Tensor img = random_u8({1, 6, 12}, 7);
  std::vector<float> out = run(e, img, 0);
  std::vector<double> full = reference_resize(testing::bytes_of(img), 1, 6, 12, 0, 0, 6, 12, 8, 16);
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x)
      EXPECT_NEAR(out[y * 8 + x] * 255.0, full[y * 16 + x + 4], 2e-3) << y << "," << x;
}

TEST(Transforms, RandomResizedCropBoxes) {
  const int64_t h = 375, w = 500;
  int fallbacks = 0;
  for (int64_t i = 0; i < 500; ++i) {
    CropBox b = random_resized_crop_box(h, w, 0.08f, 1.f, 0.75f, 4.f / 3.f, 3, 0, i);
    ASSERT_TRUE(b.top >= 0 && b.left >= 0 && b.top + b.height <= h && b.left + b.width <= w);
    double area = static_cast<double>(b.height) * b.width / (h * w);
    double ratio = static_cast<double>(b.width) / b.height;
    bool fallback = b.height == h && b.width == w;
    fallbacks += fallback;
    if (!fallback) {
      EXPECT_GE(area, 0.08 * 0.95);
      EXPECT_LE(area, 1.0);
      EXPECT_GE(ratio, 0.75 * 0.97);
      EXPECT_LE(ratio, 4.0 / 3.0 * 1.03);
    }
    CropBox again = random_resized_crop_box(h, w, 0.08f, 1.f, 0.75f, 4.f / 3.f, 3, 0, i);
    EXPECT_EQ(b.top, again.top);
    EXPECT_EQ(b.width, again.width);
  }
  EXPECT_LT(fallbacks, 10);
  // impossible ranges fall back to torchvision's clamped centre crop
  CropBox f = random_resized_crop_box(10, 100, 0.9f, 1.f, 0.75f, 4.f / 3.f, 3, 0, 0);
  EXPECT_EQ(f.height, 10);
  EXPECT_EQ(f.width, 13);  // round(10 * 4/3)
  EXPECT_EQ(f.top, 0);
  EXPECT_EQ(f.left, 43);  // (100 - 13) // 2
}

TEST(Transforms, RandomResizedCropResamplesItsBox) {
  Tensor img = random_u8({3, 30, 40}, 8);
  std::vector<uint8_t> u = testing::bytes_of(img);
  Transform t = Transform().random_resized_crop(12, 10);
  for (int64_t i = 0; i < 10; ++i) {
    CropBox b = random_resized_crop_box(30, 40, 0.08f, 1.f, 0.75f, 4.f / 3.f, 1, 0, i);
    std::vector<double> ref =
        reference_resize(u, 3, 30, 40, b.top, b.left, b.height, b.width, 12, 10);
    std::vector<float> out = run(t, img, i);
    for (size_t k = 0; k < ref.size(); ++k)
      ASSERT_NEAR(out[k] * 255.0, ref[k], 2e-3) << i << " " << k;
  }
}

TEST(Transforms, StridedInputEqualsContiguous) {
  Tensor hwc = random_u8({20, 24, 3}, 9);
  Tensor chw_view = hwc.permute({2, 0, 1});  // what decode_image returns
  Tensor chw = chw_view.contiguous();
  for (const Transform& t : {Transform().random_resized_crop(8, 8).random_flip(),
                             Transform().pad_random_crop(16, 16, 2).random_flip(),
                             Transform().resize(10).center_crop(9, 9)})
    for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(run(t, chw_view, i), run(t, chw, i)) << t.str();
}

TEST(Transforms, BadCombinationsAndShapes) {
  EXPECT_MINIDL_ERROR(Transform().pad_random_crop(4, 4, 0).random_resized_crop(4, 4),
                      "cannot be combined");
  EXPECT_MINIDL_ERROR(Transform().normalize({0.5f, 0.5f}, {0.5f}), "2 means and 1 stds");
  EXPECT_MINIDL_ERROR(Transform().normalize({0.5f}, {0.f}), "must be positive");
  EXPECT_MINIDL_ERROR(Transform().normalize({1, 2}, {1, 2}).output_shape({3, 4, 4}),
                      "normalize has 2 channels");
  Tensor img = random_u8({1, 4, 4}, 10);
  std::vector<float> out(64);
  EXPECT_MINIDL_ERROR(Transform().pad_random_crop(9, 9, 2).apply(img, 0, 0, 0, out.data()),
                      "larger than a 4x4 image padded by 2");
}

}  // namespace
}  // namespace minidl
