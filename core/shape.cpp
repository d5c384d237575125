#include "core/shape.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace minidl {

bool checked_mul(int64_t a, int64_t b, int64_t& out) {
  int64_t p = 0;
  if (__builtin_mul_overflow(a, b, &p)) return false;
  out = p;
  return true;
}

int to_int32(int64_t v, const char* what) {
  MINIDL_CHECK(v >= INT32_MIN && v <= INT32_MAX, what, " = ", v,
               " does not fit the 32-bit int the library takes (at most ", INT32_MAX, ")");
  return static_cast<int>(v);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    MINIDL_CHECK(checked_mul(n, d, n), "shape ", shape_str(shape),
                 ": the number of elements overflows 64 bits");
  return n;
}

bool shape_nbytes(const Shape& shape, size_t element_size, int64_t& out) {
  int64_t n = static_cast<int64_t>(element_size);
  for (int64_t d : shape)
    if (d < 0 || !checked_mul(n, d, n)) return false;
  out = n;
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    MINIDL_CHECK(checked_mul(s, shape[i] > 0 ? shape[i] : 1, s), "shape ", shape_str(shape),
                 ": the strides overflow 64 bits");
  }
  return strides;
}

Shape channels_last_strides(const Shape& shape) {
  MINIDL_CHECK(shape.size() == 4, "channels-last needs a 4-d [N, C, H, W] shape, got ",
               shape_str(shape));
  int64_t C = std::max<int64_t>(shape[1], 1), H = std::max<int64_t>(shape[2], 1),
          W = std::max<int64_t>(shape[3], 1);
  return {H * W * C, 1, W * C, C};
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

}  // namespace minidl
