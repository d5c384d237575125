// Helpers for the data tests: a fresh temporary folder removed at the end, and small images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace minidl::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("minidl_data_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A u8 tensor of `shape` with values from std::mt19937(seed) (an outside generator).
inline Tensor random_u8(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(shape_numel(shape)));
  for (uint8_t& x : v) x = static_cast<uint8_t>(rng() >> 24);
  return Tensor::from_vector(v, shape);
}

inline std::vector<uint8_t> bytes_of(const Tensor& t) {
  return t.contiguous().to_vector<uint8_t>();
}

}  // namespace minidl::testing
