// Shapes and strides, in elements. A tensor has at most kMaxDims dimensions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl {

constexpr int kMaxDims = 8;

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);     // row-major: the last dimension is dense
Shape channels_last_strides(const Shape& shape);  // [N, C, H, W] laid out as N, H, W, C
std::string shape_str(const Shape& shape);        // "[2, 3, 4]"

}  // namespace minidl
