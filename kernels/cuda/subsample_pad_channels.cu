#include <type_traits>

#include "core/cuda/launch.cuh"
#include "kernels/subsample_pad_channels.h"

namespace minidl {
namespace cuda {

// S: the tensors' type; T: what is copied (uint16_t for bf16/f16: a copy moves bits, and
// uint16_t's 0 is +0.0 in both).
template <typename S>
static void apply_typed(const Tensor& in, const Tensor& out, SubsamplePad p, bool backward,
                        Stream s) {
  using T = std::conditional_t<sizeof(S) == 2, uint16_t, S>;
  const T* src = reinterpret_cast<const T*>(in.data<S>());
  T* dst = reinterpret_cast<T*>(out.data<S>());
  launch_elementwise(out.numel(), s, [=] __device__(int64_t i) {
    dst[i] = backward ? subsample_pad_channels_backward_element(src, p, i)
                      : subsample_pad_channels_element(src, p, i);
  });
}

void subsample_pad_channels(const Tensor& in, const Tensor& out, const SubsamplePad& p,
                            bool backward, Stream s) {
  visit_activation(out.dtype(), "subsample_pad_channels",
                   [&](auto z) { apply_typed<decltype(z)>(in, out, p, backward, s); });
}

}  // namespace cuda
}  // namespace minidl
