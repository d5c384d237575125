// Synthetic data: seeded random images and labels of any shape, for benchmarks and smoke tests.
// Sample i is a pure function of (seed, i) (Philox), generated when asked for, so a synthetic
// ImageNet-size set costs no memory; materialize() makes an in-memory copy (TensorDataset).
#pragma once

#include <memory>
#include <string>

#include "data/dataset.h"

namespace minidl {

class SyntheticDataset : public Dataset {
 public:
  // image_shape: [C, H, W]; pixels uniform in [0, 255], labels uniform in [0, num_classes).
  SyntheticDataset(int64_t size, Shape image_shape, int64_t num_classes, uint64_t seed,
                   std::string name = "synthetic");
  int64_t size() const override { return size_; }
  Shape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return name_; }
  Sample get(int64_t index) const override;
  int64_t label(int64_t index) const override;

 private:
  int64_t size_;
  Shape shape_;
  int64_t num_classes_;
  uint64_t seed_;
  std::string name_;
};

// Every sample of `dataset` (fixed image shape) gathered into memory.
std::shared_ptr<TensorDataset> materialize(const Dataset& dataset);

}  // namespace minidl
