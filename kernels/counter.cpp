#include "kernels/counter.h"

#include "core/dispatch.h"

namespace minidl {

void count_up(const Tensor& counter) {
  MINIDL_CHECK(counter.defined() && counter.numel() == 1 && counter.dtype() == DType::i64,
               "count_up: counter ",
               counter.defined() ? shape_str(counter.shape()) + " " + dtype_name(counter.dtype())
                                 : std::string("undefined"),
               ", expected one i64");
  MINIDL_DISPATCH(counter.device(), count_up, counter);
}

}  // namespace minidl
