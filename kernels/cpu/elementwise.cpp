#include "kernels/elementwise.h"

#include "core/parallel.h"

namespace minidl {
namespace cpu {

constexpr int64_t kGrain = 1 << 15;

// Calls f(i) for every i in [0, n), in parallel chunks.
template <typename F>
static void for_each_index(int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  if (bc.mode == Broadcast::same) {  // the common case, kept free of index math so it vectorises
    parallel_for(a.numel(), kGrain, [=](int64_t b, int64_t e) {
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
    return;
  }
  for_each_index(a.numel(),
                 [=](int64_t i) { po[i] = binary_element(op, pa[i], pb[broadcast_index(bc, i)]); });
}

void axpy(float alpha, const Tensor& x, const Tensor& y, Stream) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for_each_index(y.numel(), [=](int64_t i) { py[i] = alpha * px[i] + py[i]; });
}

void scale(float alpha, const Tensor& x, const Tensor& out, Stream) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  for_each_index(x.numel(), [=](int64_t i) { po[i] = alpha * px[i]; });
}

void relu_forward(const Tensor& x, const Tensor& y, Stream) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for_each_index(x.numel(), [=](int64_t i) { py[i] = relu_forward_element(px[i]); });
}

void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream) {
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  for_each_index(y.numel(), [=](int64_t i) { pdx[i] = relu_backward_element(py[i], pdy[i]); });
}

}  // namespace cpu
}  // namespace minidl
