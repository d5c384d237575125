// fill: sets every element of a tensor to one value. In core/ because Tensor::zeros/full use it;
// twins: core/cpu/fill.cpp, core/cuda/fill.cu.
#pragma once

#include "core/dispatch.h"

namespace minidl {

namespace cpu {
void fill(const Tensor& t, double value, Stream stream);
}
namespace cuda {
void fill(const Tensor& t, double value, Stream stream);
}

// t: contiguous, any dtype; `value` is converted to t's dtype as cast_value does.
inline void fill(const Tensor& t, double value) {
  check_defined("fill", t, "t");
  check_contiguous("fill", t, "t");
  MINIDL_DISPATCH(t.device(), fill, t, value);
}

}  // namespace minidl
