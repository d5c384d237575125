// The CPU twin of the element-wise ops: every loop runs through the ISA launcher
// (kernels/cpu/isa_dispatch.h), so it is vectorised for the widest ISA the CPU has.
#include "kernels/elementwise.h"

#include "kernels/cpu/isa_dispatch.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;

// Calls f(i) for every i in [0, n), in parallel chunks compiled for cpu_isa().
template <typename F>
static void for_each_index(int64_t n, F f) {
  isa_parallel_for(n, kGrain, f);
}

template <typename T>
static void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out,
                         Broadcast bc) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  if (bc.mode == Broadcast::same) {  // the common case, kept free of index math so it vectorises
    const CpuIsa isa = cpu_isa();
    parallel_for(a.numel(), kGrain, [=](int64_t b, int64_t e) {
      isa_call(isa, [=] {
        switch (op) {
          case BinaryOp::add:
            for (int64_t i = b; i < e; ++i) po[i] = pa[i] + pb[i];
            break;
          case BinaryOp::sub:
            for (int64_t i = b; i < e; ++i) po[i] = pa[i] - pb[i];
            break;
          case BinaryOp::mul:
            for (int64_t i = b; i < e; ++i) po[i] = pa[i] * pb[i];
            break;
        }
      });
    });
    return;
  }
  for_each_index(a.numel(),
                 [=](int64_t i) { po[i] = binary_element(op, pa[i], pb[broadcast_index(bc, i)]); });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream) {
  visit_floating(a.dtype(), "binary",
                 [&](auto z) { binary_typed<decltype(z)>(op, a, b, out, bc); });
}

void axpy(double alpha, const Tensor& x, const Tensor& y, Stream) {
  visit_floating(y.dtype(), "axpy", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T a = static_cast<T>(alpha);
    for_each_index(y.numel(), [=](int64_t i) { py[i] = a * px[i] + py[i]; });
  });
}

void scale(double alpha, const Tensor& x, const Tensor& out, Stream) {
  visit_floating(x.dtype(), "scale", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    T a = static_cast<T>(alpha);
    for_each_index(x.numel(), [=](int64_t i) { po[i] = a * px[i]; });
  });
}

void relu_forward(const Tensor& x, const Tensor& y, Stream) {
  visit_floating(x.dtype(), "relu_forward", [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_index(x.numel(), [=](int64_t i) { py[i] = relu_forward_element(px[i]); });
  });
}

void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream) {
  visit_floating(y.dtype(), "relu_backward", [&](auto z) {
    using T = decltype(z);
    const T* py = y.data<T>();
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    for_each_index(y.numel(), [=](int64_t i) { pdx[i] = relu_backward_element(py[i], pdy[i]); });
  });
}

}  // namespace cpu
}  // namespace minidl
