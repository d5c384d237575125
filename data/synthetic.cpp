#include "data/synthetic.h"

#include <cstring>

#include "core/philox.h"

namespace minidl {

// Sample i draws from counters (i << 32) + k: block k = 0 gives the label, 1.. the pixels (four
// per block), so samples never share a counter for images below 16 G pixels.
SyntheticDataset::SyntheticDataset(int64_t size, Shape image_shape, int64_t num_classes,
                                   uint64_t seed, std::string name)
    : size_(size),
      shape_(std::move(image_shape)),
      num_classes_(num_classes),
      seed_(seed),
      name_(std::move(name)) {
  MINIDL_CHECK(size_ >= 0 && num_classes_ >= 1 && shape_.size() == 3 && shape_[0] >= 1 &&
                   shape_[1] >= 1 && shape_[2] >= 1,
               name_, ": bad synthetic dataset: ", size_, " samples of ", shape_str(shape_), ", ",
               num_classes_, " classes");
}

Sample SyntheticDataset::get(int64_t index) const {
  check_index(index);
  Tensor img = Tensor::empty(shape_, DType::u8);
  uint8_t* p = img.data<uint8_t>();
  int64_t n = img.numel();
  uint64_t base = static_cast<uint64_t>(index) << 32;
  for (int64_t k = 0; k < n; k += 4) {
    Philox4 r = philox_block(seed_, base + 1 + static_cast<uint64_t>(k / 4));
    for (int64_t j = 0; j < 4 && k + j < n; ++j) p[k + j] = static_cast<uint8_t>(r.v[j] >> 24);
  }
  return {img, label(index)};
}

int64_t SyntheticDataset::label(int64_t index) const {
  check_index(index);
  Philox4 r = philox_block(seed_, static_cast<uint64_t>(index) << 32);
  return static_cast<int64_t>((static_cast<uint64_t>(r.v[0]) * num_classes_) >> 32);
}

std::shared_ptr<TensorDataset> materialize(const Dataset& dataset) {
  Shape s = dataset.image_shape();
  MINIDL_CHECK(s.size() == 3 && s[1] > 0 && s[2] > 0, dataset.name(),
               ": materialize needs one image shape, got ", shape_str(s));
  int64_t n = dataset.size(), per = shape_numel(s);
  Tensor images = Tensor::empty({n, s[0], s[1], s[2]}, DType::u8);
  Tensor labels = Tensor::empty({n}, DType::i64);
  uint8_t* dst = images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    Sample smp = dataset.get(i);
    MINIDL_CHECK(smp.image.shape() == s, dataset.name(), ": sample ", i, " has shape ",
                 shape_str(smp.image.shape()), ", expected ", shape_str(s));
    Tensor c = smp.image.contiguous();
    std::memcpy(dst + i * per, c.data_ptr(), static_cast<size_t>(per));
    labels.data<int64_t>()[i] = smp.label;
  }
  return std::make_shared<TensorDataset>(images, labels, dataset.num_classes(), dataset.name());
}

}  // namespace minidl
