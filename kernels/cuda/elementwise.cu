#include "kernels/cuda/launch.cuh"
#include "kernels/elementwise.h"

namespace minidl {
namespace cuda {

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream s) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  launch_elementwise(a.numel(), s, [=] __device__(int64_t i) {
    po[i] = binary_element(op, pa[i], pb[broadcast_index(bc, i)]);
  });
}

void axpy(float alpha, const Tensor& x, const Tensor& y, Stream s) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  launch_elementwise(y.numel(), s, [=] __device__(int64_t i) { py[i] = alpha * px[i] + py[i]; });
}

void scale(float alpha, const Tensor& x, const Tensor& out, Stream s) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) { po[i] = alpha * px[i]; });
}

void relu_forward(const Tensor& x, const Tensor& y, Stream s) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  launch_elementwise(x.numel(), s,
                     [=] __device__(int64_t i) { py[i] = relu_forward_element(px[i]); });
}

void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream s) {
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  launch_elementwise(y.numel(), s,
                     [=] __device__(int64_t i) { pdx[i] = relu_backward_element(py[i], pdy[i]); });
}

}  // namespace cuda
}  // namespace minidl
