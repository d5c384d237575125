// Shapes and strides, in elements. A tensor has at most kMaxDims dimensions.
// Every product of sizes here is checked: a shape read from a file can hold any 64-bit numbers, and
// a product that wraps around would allocate a small buffer that kernels then overrun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace minidl {

constexpr int kMaxDims = 8;

using Shape = std::vector<int64_t>;

// out = a * b; false (out untouched) when the product overflows int64.
bool checked_mul(int64_t a, int64_t b, int64_t& out);

// v as the 32-bit int that OpenBLAS, cuBLAS and cuDNN take for sizes and strides; throws naming
// `what` (e.g. "gemm: m") and the limit when it does not fit, instead of wrapping.
int to_int32(int64_t v, const char* what);

// The product of the sizes; throws naming the shape when it overflows int64.
int64_t shape_numel(const Shape& shape);
// The bytes of a dense array of `shape` with `element_size`-byte elements; false when a size is
// negative or the product overflows int64. Readers of files use it to give their own message.
bool shape_nbytes(const Shape& shape, size_t element_size, int64_t& out);

Shape contiguous_strides(const Shape& shape);     // row-major: the last dimension is dense
Shape channels_last_strides(const Shape& shape);  // [N, C, H, W] laid out as N, H, W, C
std::string shape_str(const Shape& shape);        // "[2, 3, 4]"

}  // namespace minidl
