// SiLU's CPU twin: the element math in the ISA launcher's parallel loop, vectorised for the widest
// instruction set the CPU has (kernels/cpu/isa_dispatch.h).
#include "kernels/cpu/isa_dispatch.h"
#include "silu.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;

void silu_forward(const Tensor& x, const Tensor& y, Stream) {
  visit_floating(x.dtype(), "silu_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    isa_parallel_for(x.numel(), kGrain, [=](int64_t i) { py[i] = silu_forward_element(px[i]); });
  });
}

void silu_backward(const Tensor& x, const Tensor& dy, const Tensor& dx, Stream) {
  visit_floating(x.dtype(), "silu_backward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    isa_parallel_for(x.numel(), kGrain,
                     [=](int64_t i) { pdx[i] = silu_backward_element(px[i], pdy[i]); });
  });
}

}  // namespace cpu
}  // namespace minidl
