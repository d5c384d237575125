#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/file_io.h"
#include "data/sampler.h"
#include "kernels/augment.h"

namespace minidl {

void Dataset::check_index(int64_t index) const {
  MINIDL_CHECK(index >= 0 && index < size(), name(), ": sample index ", index, " out of range for ",
               size(), " samples");
}

// ---- TensorDataset ----

TensorDataset::TensorDataset(Tensor images, Tensor labels, int64_t num_classes, std::string name)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      num_classes_(num_classes),
      name_(std::move(name)) {
  MINIDL_CHECK(images_.defined() && images_.dim() == 4 && images_.dtype() == DType::u8 &&
                   images_.is_contiguous() && images_.device().is_cpu(),
               name_, ": images must be a contiguous CPU u8 [N, C, H, W] tensor, got ",
               images_.defined() ? images_.str() : "undefined");
  MINIDL_CHECK(labels_.defined() && labels_.dim() == 1 && labels_.dtype() == DType::i64 &&
                   labels_.is_contiguous() && labels_.device().is_cpu() &&
                   labels_.size(0) == images_.size(0),
               name_, ": labels must be a contiguous CPU i64 [", images_.size(0), "] tensor, got ",
               labels_.defined() ? labels_.str() : "undefined");
  MINIDL_CHECK(num_classes_ >= 1, name_, ": num_classes ", num_classes_);
  const int64_t* l = labels_.data<int64_t>();
  for (int64_t i = 0; i < labels_.size(0); ++i)
    MINIDL_CHECK(l[i] >= 0 && l[i] < num_classes_, name_, ": label ", l[i], " of sample ", i,
                 " is out of range [0, ", num_classes_, ")");
}

Shape TensorDataset::image_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

Sample TensorDataset::get(int64_t index) const {
  check_index(index);
  return {images_.narrow(0, index, 1).view(image_shape()), labels_.data<int64_t>()[index]};
}

int64_t TensorDataset::label(int64_t index) const {
  check_index(index);
  return labels_.data<int64_t>()[index];
}

// ---- SubsetDataset ----

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices,
                             std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {
  MINIDL_CHECK(base_ != nullptr, name_, ": no base dataset");
  for (size_t k = 0; k < indices_.size(); ++k)
    MINIDL_CHECK(indices_[k] >= 0 && indices_[k] < base_->size(), name_, ": index ", indices_[k],
                 " at ", k, " out of range for ", base_->name(), " (", base_->size(), " samples)");
}

Sample SubsetDataset::get(int64_t index) const {
  check_index(index);
  return base_->get(indices_[index]);
}

int64_t SubsetDataset::label(int64_t index) const {
  check_index(index);
  return base_->label(indices_[index]);
}

// ---- validation split ----

HoldoutSplit holdout_split(int64_t n, int64_t holdout, uint64_t seed) {
  MINIDL_CHECK(holdout >= 0 && holdout <= n, "holdout_split: cannot hold out ", holdout, " of ", n,
               " samples");
  std::vector<int64_t> perm = seeded_permutation(n, seed, 0, kDrawHoldout);
  HoldoutSplit s;
  s.val.assign(perm.begin(), perm.begin() + holdout);
  s.train.assign(perm.begin() + holdout, perm.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

HoldoutSplit holdout_split_fraction(int64_t n, double fraction, uint64_t seed) {
  MINIDL_CHECK(fraction >= 0 && fraction <= 1, "holdout_split: fraction ", fraction,
               " outside [0, 1]");
  return holdout_split(n, static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))),
                       seed);
}

SplitDatasets split_dataset(std::shared_ptr<const Dataset> train, int64_t holdout, uint64_t seed) {
  HoldoutSplit s = holdout_split(train->size(), holdout, seed);
  std::string name = train->name();
  SplitDatasets out;
  out.val = std::make_shared<SubsetDataset>(train, std::move(s.val), name + "/val-split");
  out.train = std::make_shared<SubsetDataset>(train, std::move(s.train), name + "/train-split");
  return out;
}

// ---- channel statistics ----

ChannelStats compute_channel_stats(const Dataset& dataset) {
  MINIDL_CHECK(dataset.size() > 0, dataset.name(), ": channel statistics of an empty dataset");
  int64_t channels = dataset.image_shape()[0];
  std::vector<double> sum(channels, 0.0), sum_sq(channels, 0.0);
  double count = 0;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    Tensor img = dataset.get(i).image;
    MINIDL_CHECK(img.size(0) == channels, dataset.name(), ": sample ", i, " has ", img.size(0),
                 " channels, expected ", channels);
    const uint8_t* p = img.data<uint8_t>();
    for (int64_t c = 0; c < channels; ++c) {
      // Integer sums per image are exact; one double add per image and channel.
      uint64_t s = 0, s2 = 0;
      for (int64_t y = 0; y < img.size(1); ++y)
        for (int64_t x = 0; x < img.size(2); ++x) {
          uint64_t v = p[c * img.stride(0) + y * img.stride(1) + x * img.stride(2)];
          s += v;
          s2 += v * v;
        }
      sum[c] += static_cast<double>(s);
      sum_sq[c] += static_cast<double>(s2);
    }
    count += static_cast<double>(img.size(1) * img.size(2));
  }
  ChannelStats st;
  for (int64_t c = 0; c < channels; ++c) {
    double mean = sum[c] / count;
    double var = std::max(0.0, sum_sq[c] / count - mean * mean);
    st.mean.push_back(static_cast<float>(mean / 255.0));
    st.std.push_back(static_cast<float>(std::sqrt(var) / 255.0));
  }
  return st;
}

static std::string stats_key(const Dataset& d) {
  return d.name() + " " + std::to_string(d.size()) + " " + shape_str(d.image_shape());
}

static bool read_stats_file(const std::string& path, const std::string& key, ChannelStats& st) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  if (!std::getline(in, line) || line != "# channel stats of " + key) return false;
  ChannelStats got;
  std::string what;
  float v;
  while (in >> what) {
    std::vector<float>& dst = what == "mean" ? got.mean : got.std;
    if (what != "mean" && what != "std") return false;
    std::string rest;
    std::getline(in, rest);
    std::istringstream ls(rest);
    while (ls >> v) dst.push_back(v);
  }
  if (got.mean.empty() || got.mean.size() != got.std.size()) return false;
  st = got;
  return true;
}

ChannelStats cached_channel_stats(const Dataset& dataset, const std::string& cache_file) {
  static std::mutex mutex;
  static std::map<std::string, ChannelStats> memo;
  std::string key = stats_key(dataset);
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  ChannelStats st;
  if (cache_file.empty() || !read_stats_file(cache_file, key, st)) {
    st = compute_channel_stats(dataset);
    if (!cache_file.empty()) {
      std::ostringstream os;
      os.precision(9);
      os << "# channel stats of " << key << "\nmean";
      for (float m : st.mean) os << ' ' << m;
      os << "\nstd";
      for (float s : st.std) os << ' ' << s;
      os << '\n';
      std::string text = os.str();
      write_file_atomic(cache_file, std::vector<uint8_t>(text.begin(), text.end()));
    }
  }
  std::lock_guard<std::mutex> lock(mutex);
  memo[key] = st;
  return st;
}

}  // namespace minidl
