#include "kernels/augment.h"

namespace minidl {

static void check_augment_params(const CropFlipNormalize& p, const Tensor& images) {
  MINIDL_CHECK(p.channels >= 1 && p.channels <= kAugmentMaxChannels, "augment_batch: ", p.channels,
               " channels; supported 1..", kAugmentMaxChannels);
  MINIDL_CHECK(p.channels == images.size(1) && p.in_h == images.size(2) && p.in_w == images.size(3),
               "augment_batch: parameters describe [", p.channels, ", ", p.in_h, ", ", p.in_w,
               "] images, but images are ", shape_str(images.shape()));
  MINIDL_CHECK(p.out_h >= 1 && p.out_w >= 1 && p.pad >= 0, "augment_batch: output ", p.out_h, "x",
               p.out_w, " with pad ", p.pad);
  if (p.random_crop)
    MINIDL_CHECK(p.out_h <= p.in_h + 2 * p.pad && p.out_w <= p.in_w + 2 * p.pad,
                 "augment_batch: a random ", p.out_h, "x", p.out_w, " crop does not fit a ", p.in_h,
                 "x", p.in_w, " image padded by ", p.pad);
}

void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p) {
  const char* op = "augment_batch";
  for (const Tensor* t : {&images, &labels, &indices, &out_images, &out_labels})
    check_defined(op, *t, "argument");
  check_dim(op, images, "images", 4);
  check_dim(op, labels, "labels", 1);
  check_dim(op, indices, "indices", 1);
  check_dim(op, out_images, "out_images", 4);
  check_dim(op, out_labels, "out_labels", 1);
  check_dtype(op, images, "images", DType::u8);
  check_dtype(op, labels, "labels", DType::i64);
  check_dtype(op, indices, "indices", DType::i64);
  check_dtype(op, out_images, "out_images", DType::f32);
  check_dtype(op, out_labels, "out_labels", DType::i64);
  for (const Tensor* t : {&images, &labels, &indices, &out_images, &out_labels})
    check_contiguous(op, *t, "argument");
  check_same_device(op, {&images, &labels, &indices, &out_images, &out_labels});
  check_augment_params(p, images);
  int64_t b = indices.size(0);
  MINIDL_CHECK(labels.size(0) == images.size(0), op, ": labels ", shape_str(labels.shape()),
               " for images ", shape_str(images.shape()));
  Shape want = {b, p.channels, p.out_h, p.out_w};
  MINIDL_CHECK(out_images.shape() == want, op, ": out_images ", shape_str(out_images.shape()),
               ", expected ", shape_str(want));
  MINIDL_CHECK(out_labels.size(0) == b, op, ": out_labels ", shape_str(out_labels.shape()), " for ",
               b, " indices");
  if (indices.device().is_cpu()) {
    const int64_t* idx = indices.data<int64_t>();
    for (int64_t i = 0; i < b; ++i)
      MINIDL_CHECK(idx[i] >= 0 && idx[i] < images.size(0), op, ": index ", idx[i], " at ", i,
                   " out of range for ", images.size(0), " images");
  }
  if (b == 0) return;
  MINIDL_DISPATCH(images.device(), augment_batch, images, labels, indices, out_images, out_labels,
                  p);
}

}  // namespace minidl
