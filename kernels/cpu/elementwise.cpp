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

// S: the storage type; widen/narrow (core/dtype.h) are the identity for f32 and f64, so those
// loops are the plain ones.
template <typename S>
static void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out,
                         Broadcast bc) {
  const S* pa = a.data<S>();
  const S* pb = b.data<S>();
  S* po = out.data<S>();
  if (bc.mode == Broadcast::same) {  // the common case, kept free of index math so it vectorises
    const CpuIsa isa = cpu_isa();
    parallel_for(a.numel(), kGrain, [=](int64_t b, int64_t e) {
      isa_call(isa, [=] {
        switch (op) {
          case BinaryOp::add:
            for (int64_t i = b; i < e; ++i) po[i] = narrow<S>(widen(pa[i]) + widen(pb[i]));
            break;
          case BinaryOp::sub:
            for (int64_t i = b; i < e; ++i) po[i] = narrow<S>(widen(pa[i]) - widen(pb[i]));
            break;
          case BinaryOp::mul:
            for (int64_t i = b; i < e; ++i) po[i] = narrow<S>(widen(pa[i]) * widen(pb[i]));
            break;
        }
      });
    });
    return;
  }
  for_each_index(a.numel(), [=](int64_t i) {
    po[i] = narrow<S>(binary_element(op, widen(pa[i]), widen(pb[broadcast_index(bc, i)])));
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream) {
  visit_activation(a.dtype(), "binary",
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
  visit_activation(x.dtype(), "relu_forward", [&](auto z) {
    using S = decltype(z);
    const S* px = x.data<S>();
    S* py = y.data<S>();
    for_each_index(x.numel(),
                   [=](int64_t i) { py[i] = narrow<S>(relu_forward_element(widen(px[i]))); });
  });
}

void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream) {
  visit_activation(y.dtype(), "relu_backward", [&](auto z) {
    using S = decltype(z);
    const S* py = y.data<S>();
    const S* pdy = dy.data<S>();
    S* pdx = dx.data<S>();
    for_each_index(y.numel(), [=](int64_t i) {
      pdx[i] = narrow<S>(relu_backward_element(widen(py[i]), widen(pdy[i])));
    });
  });
}

}  // namespace cpu
}  // namespace minidl
