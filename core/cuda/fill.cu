#include "core/cuda/launch.cuh"
#include "core/fill.h"

namespace minidl {
namespace cuda {

// nvcc allows __device__ lambdas in function templates but not in generic lambdas, so the typed
// body is a template that visit_dtype's lambda calls.
template <typename T>
static void fill_typed(const Tensor& t, double value, Stream stream) {
  T v = cast_value<T>(value);
  T* p = static_cast<T*>(t.data_ptr());
  launch_elementwise(t.numel(), stream, [=] __device__(int64_t i) { p[i] = v; });
}

void fill(const Tensor& t, double value, Stream stream) {
  visit_dtype(t.dtype(), [&](auto zero) { fill_typed<decltype(zero)>(t, value, stream); });
}

}  // namespace cuda
}  // namespace minidl
