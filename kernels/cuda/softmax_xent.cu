// CUDA softmax + cross-entropy: one thread per row (forward), one per logit (backward), running
// the header's element math.
#include "core/cuda/launch.cuh"
#include "kernels/softmax_xent.h"

namespace minidl {
namespace cuda {

template <typename T>
static void forward_typed(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, T smoothing, Stream s) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const T* pz = logits.data<T>();
  const int64_t* pl = labels.data<int64_t>();
  T* pp = probs.data<T>();
  T* ploss = losses.data<T>();
  int64_t* pr = ranks.data<int64_t>();
  launch_elementwise(N, s, [=] __device__(int64_t i) {
    softmax_xent_row(pz + i * K, K, pl[i], smoothing, pp + i * K, ploss[i], pr[i]);
  });
}

template <typename T>
static void backward_typed(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           T smoothing, T scale, Stream s) {
  const int64_t K = probs.size(1);
  const T* pp = probs.data<T>();
  const int64_t* pl = labels.data<int64_t>();
  T* pd = dlogits.data<T>();
  launch_elementwise(probs.numel(), s, [=] __device__(int64_t i) {
    pd[i] = softmax_xent_grad(pp, pl, K, smoothing, scale, i);
  });
}

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing, Stream s) {
  visit_floating(logits.dtype(), "softmax_xent_forward", [&](auto z) {
    using T = decltype(z);
    forward_typed<T>(logits, labels, probs, losses, ranks, static_cast<T>(smoothing), s);
  });
}

void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale, Stream s) {
  visit_floating(probs.dtype(), "softmax_xent_backward", [&](auto z) {
    using T = decltype(z);
    backward_typed<T>(probs, labels, dlogits, static_cast<T>(smoothing), static_cast<T>(scale), s);
  });
}

}  // namespace cuda
}  // namespace minidl
