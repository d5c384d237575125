// Datasets: samples by index. A sample is an image u8 [C, H, W] (often a view into a whole-dataset
// tensor, or a [C, H, W] view with HWC strides of a decoded image) and an int64 label in
// [0, num_classes). Datasets are immutable after construction; get() and label() are called from
// several loader threads at once and must be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace minidl {

struct Sample {
  Tensor image;  // u8 [C, H, W], any strides
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // [C, H, W]; H and W are -1 when images differ in size (ImageFolder).
  virtual Shape image_shape() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual std::string name() const = 0;  // e.g. "fashion-mnist/train"
  virtual Sample get(int64_t index) const = 0;
  virtual int64_t label(int64_t index) const = 0;  // without decoding the image
  // All images as one u8 [N, C, H, W] tensor when the dataset holds them so; else undefined.
  virtual Tensor all_images() const { return Tensor(); }

 protected:
  void check_index(int64_t index) const;  // throws naming the dataset, the index and the size
};

// A dataset held in memory: images u8 [N, C, H, W] and labels i64 [N] (the IDX, CIFAR and
// synthetic loaders produce these). Checks every label against num_classes.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor images, Tensor labels, int64_t num_classes, std::string name);
  int64_t size() const override { return images_.size(0); }
  Shape image_shape() const override;
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return name_; }
  Sample get(int64_t index) const override;
  int64_t label(int64_t index) const override;
  Tensor all_images() const override { return images_; }
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }

 private:
  Tensor images_, labels_;
  int64_t num_classes_;
  std::string name_;
};

// The samples of `base` at `indices` (in that order): a validation split, a shard, a subset.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices,
                std::string name);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Shape image_shape() const override { return base_->image_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string name() const override { return name_; }
  Sample get(int64_t index) const override;
  int64_t label(int64_t index) const override;
  const std::vector<int64_t>& indices() const { return indices_; }
  const Dataset& base() const { return *base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
  std::string name_;
};

// A validation split held out of a training set: `holdout` samples chosen by `seed` (a pure
// function of (n, holdout, seed)), both lists sorted ascending and disjoint, together [0, n).
struct HoldoutSplit {
  std::vector<int64_t> train, val;
};
HoldoutSplit holdout_split(int64_t n, int64_t holdout, uint64_t seed);
// holdout = round(fraction * n).
HoldoutSplit holdout_split_fraction(int64_t n, double fraction, uint64_t seed);

// The two datasets of a split of `train` (names "<name>/train-split" and "<name>/val-split").
struct SplitDatasets {
  std::shared_ptr<const Dataset> train, val;
};
SplitDatasets split_dataset(std::shared_ptr<const Dataset> train, int64_t holdout, uint64_t seed);

// Per-channel mean and standard deviation of the pixel values scaled to [0, 1], over every pixel
// of every image (population std), accumulated in double in index order (so the same numbers on
// any machine and thread count).
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats compute_channel_stats(const Dataset& dataset);

// compute_channel_stats once: kept in memory for the process (keyed by name, size and image shape)
// and, when `cache_file` is not empty, in that small text file (read when it exists and was
// written for the same dataset; written otherwise, atomically).
ChannelStats cached_channel_stats(const Dataset& dataset, const std::string& cache_file = "");

}  // namespace minidl
