// CPU counter: the increment in place.
#include "kernels/counter.h"

namespace minidl {
namespace cpu {

void count_up(const Tensor& counter, Stream) {
  ++*counter.data<int64_t>();
}

}  // namespace cpu
}  // namespace minidl
