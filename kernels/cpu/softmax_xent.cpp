#include <algorithm>

#include "kernels/cpu/isa_dispatch.h"
#include "kernels/softmax_xent.h"

namespace minidl {
namespace cpu {

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, const Tensor& probs,
                          const Tensor& losses, const Tensor& ranks, double smoothing, Stream) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const int64_t* pl = labels.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    MINIDL_CHECK(pl[i] >= 0 && pl[i] < K, "softmax_xent_forward: label ", pl[i], " of row ", i,
                 " outside [0, ", K, ")");
  visit_floating(logits.dtype(), "softmax_xent_forward", [&](auto z) {
    using T = decltype(z);
    const T* pz = logits.data<T>();
    T* pp = probs.data<T>();
    T* ploss = losses.data<T>();
    int64_t* pr = ranks.data<int64_t>();
    const T eps = static_cast<T>(smoothing);
    // exp and log stay libm calls on every ISA; the max, scale and rank loops vectorise.
    const CpuIsa isa = cpu_isa();
    parallel_for(N, std::max<int64_t>(1, 4096 / K), [&](int64_t b, int64_t e) {
      isa_call(isa, [&] {
        for (int64_t i = b; i < e; ++i)
          softmax_xent_row(pz + i * K, K, pl[i], eps, pp + i * K, ploss[i], pr[i]);
      });
    });
  });
}

void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& dlogits,
                           double smoothing, double scale, Stream) {
  const int64_t K = probs.size(1);
  const int64_t* pl = labels.data<int64_t>();
  visit_floating(probs.dtype(), "softmax_xent_backward", [&](auto z) {
    using T = decltype(z);
    const T* pp = probs.data<T>();
    T* pd = dlogits.data<T>();
    const T eps = static_cast<T>(smoothing), sc = static_cast<T>(scale);
    isa_parallel_for(probs.numel(), 1 << 14,
                     [=](int64_t i) { pd[i] = softmax_xent_grad(pp, pl, K, eps, sc, i); });
  });
}

}  // namespace cpu
}  // namespace minidl
