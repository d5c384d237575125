// CUDA batch normalisation. Per-channel sums in two steps with a fixed order: block (c, s) sums
// slice s of channel c with CUB (grid C x S, S from the sizes alone), then one thread per channel
// adds its S partials in order. Element-wise parts use the header's element math; a fused ReLU
// is applied where each value is written (forward) or each dy is read (backward). Activations
// (x, y, dy, dx, relu_y) are of storage type A: bf16/f16 values are widened to f32 as they are
// read and y, dx rounded once as they are written; everything else is T = math_t<A> (f32 then).
#include <cub/block/block_reduce.cuh>

#include <algorithm>

#include "core/cuda/launch.cuh"
#include "kernels/batchnorm.h"

namespace minidl {
namespace cuda {

constexpr int kBnThreads = 256;

template <typename T>
struct SumPair {
  T a, b;
};
struct SumPairAdd {
  template <typename T>
  __device__ SumPair<T> operator()(const SumPair<T>& x, const SumPair<T>& y) const {
    return {x.a + y.a, x.b + y.b};
  }
};

// Slices per channel: about 16 values per thread per slice, at most 64 slices.
static int slices_for(int64_t count) {
  return static_cast<int>(std::clamp<int64_t>(count / (kBnThreads * 16), 1, 64));
}

// partial[c * S + s] = sum over slice s of channel c of f(c, offset).
template <typename T, typename F>
__global__ void channel_partials_kernel(ChannelView v, int S, F f, SumPair<T>* partial) {
  using Reduce = cub::BlockReduce<SumPair<T>, kBnThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int64_t c = blockIdx.x, s = blockIdx.y, count = v.outer * v.inner;
  const int64_t chunk = (count + S - 1) / S, begin = s * chunk;
  const int64_t end = begin + chunk < count ? begin + chunk : count;
  SumPair<T> acc{T(0), T(0)};
  for (int64_t k = begin + threadIdx.x; k < end; k += kBnThreads) {
    SumPair<T> p = f(c, channel_offset(v, c, k));
    acc.a += p.a;
    acc.b += p.b;
  }
  SumPair<T> total = Reduce(tmp).Reduce(acc, SumPairAdd());
  if (threadIdx.x == 0) partial[c * S + s] = total;
}

// The per-channel totals: partials summed in slice order, handed to g(c, total) by one thread.
template <typename T, typename F, typename G>
static void channel_sums(const ChannelView& v, Device device, Stream s, F f, G g) {
  const int S = slices_for(v.outer * v.inner);
  Tensor partial = Tensor::empty({v.C * S * 2}, DTypeOf<T>::value, device);
  auto* pp = reinterpret_cast<SumPair<T>*>(partial.data<T>());
  dim3 grid(static_cast<unsigned>(v.C), static_cast<unsigned>(S));
  channel_partials_kernel<T><<<grid, kBnThreads, 0, s.handle()>>>(v, S, f, pp);
  MINIDL_LAUNCH_CHECK();
  launch_elementwise(v.C, s, [=] __device__(int64_t c) {
    SumPair<T> total{T(0), T(0)};
    for (int i = 0; i < S; ++i) {
      total.a += pp[c * S + i].a;
      total.b += pp[c * S + i].b;
    }
    g(c, total);
  });
}

template <typename T>
static const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
static T* mut_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename A>
static void forward_train_typed(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                                const Tensor& running_mean, const Tensor& running_var,
                                ChannelView v, double momentum, double eps, bool relu,
                                Stream s) {
  using T = math_t<A>;
  const A* px = x.data<A>();
  A* py = y.data<A>();
  const T *pg = ptr_or_null<T>(gamma), *pb = ptr_or_null<T>(beta);
  T *pm = save_mean.data<T>(), *pi = save_invstd.data<T>();
  T *prm = mut_or_null<T>(running_mean), *prv = mut_or_null<T>(running_var);
  const int64_t count = v.outer * v.inner;
  const T inv_count = T(1) / static_cast<T>(count);
  channel_sums<T>(
      v, x.device(), s,
      [=] __device__(int64_t, int64_t off) {
        return SumPair<T>{widen(px[off]), T(0)};
      },
      [=] __device__(int64_t c, SumPair<T> t) { pm[c] = t.a * inv_count; });
  channel_sums<T>(
      v, x.device(), s,
      [=] __device__(int64_t c, int64_t off) {
        T d = widen(px[off]) - pm[c];
        return SumPair<T>{d * d, T(0)};
      },
      [=] __device__(int64_t c, SumPair<T> t) {
        T var = t.a * inv_count;
        pi[c] = bn_invstd(var, eps);
        if (prm) bn_running_update(prm[c], prv[c], pm[c], var, count, momentum);
      });
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    int64_t c = channel_at(v, i);
    T o = bn_normalize(widen(px[i]), pm[c], pi[c], pg ? pg[c] : T(1), pb ? pb[c] : T(0));
    py[i] = narrow<A>(relu ? relu_forward_element(o) : o);
  });
}

template <typename A>
static void forward_eval_typed(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& y, ChannelView v, double eps, bool relu,
                               Stream s) {
  using T = math_t<A>;
  const A* px = x.data<A>();
  A* py = y.data<A>();
  const T *pg = ptr_or_null<T>(gamma), *pb = ptr_or_null<T>(beta);
  const T *prm = running_mean.data<T>(), *prv = running_var.data<T>();
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    int64_t c = channel_at(v, i);
    T o = bn_normalize(widen(px[i]), prm[c], bn_invstd(prv[c], eps), pg ? pg[c] : T(1),
                       pb ? pb[c] : T(0));
    py[i] = narrow<A>(relu ? relu_forward_element(o) : o);
  });
}

template <typename A>
static void backward_train_typed(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                 const Tensor& save_mean, const Tensor& save_invstd,
                                 const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta,
                                 const Tensor& relu_y, ChannelView v, Stream s) {
  using T = math_t<A>;
  const A *px = x.data<A>(), *pdy = dy.data<A>(), *pry = ptr_or_null<A>(relu_y);
  A* pdx = mut_or_null<A>(dx);
  const T* pg = ptr_or_null<T>(gamma);
  const T *pm = save_mean.data<T>(), *pi = save_invstd.data<T>();
  T *pdg = mut_or_null<T>(dgamma), *pdb = mut_or_null<T>(dbeta);
  const T inv_count = T(1) / static_cast<T>(v.outer * v.inner);
  // means[c] = mean(dy), means[C + c] = mean(dy * xhat)
  Tensor means = Tensor::empty({2 * v.C}, DTypeOf<T>::value, x.device());
  T* pmeans = means.data<T>();
  const int64_t C = v.C;
  channel_sums<T>(
      v, x.device(), s,
      [=] __device__(int64_t c, int64_t off) {
        T g = pry ? relu_backward_element(widen(pry[off]), widen(pdy[off])) : widen(pdy[off]);
        return SumPair<T>{g, g * (widen(px[off]) - pm[c])};
      },
      [=] __device__(int64_t c, SumPair<T> t) {
        T sum_dy_xhat = t.b * pi[c];
        if (pdg) pdg[c] += sum_dy_xhat;
        if (pdb) pdb[c] += t.a;
        pmeans[c] = t.a * inv_count;
        pmeans[C + c] = sum_dy_xhat * inv_count;
      });
  if (!pdx) return;
  launch_elementwise(x.numel(), s, [=] __device__(int64_t i) {
    int64_t c = channel_at(v, i);
    T g = pry ? relu_backward_element(widen(pry[i]), widen(pdy[i])) : widen(pdy[i]);
    pdx[i] = narrow<A>(bn_backward_element(g, widen(px[i]), pm[c], pi[c], pg ? pg[c] : T(1),
                                           pmeans[c], pmeans[C + c]));
  });
}

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, ChannelView v,
                             double momentum, double eps, bool relu, Stream s) {
  visit_activation(x.dtype(), "batchnorm_forward_train", [&](auto z) {
    forward_train_typed<decltype(z)>(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                     running_var, v, momentum, eps, relu, s);
  });
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            ChannelView v, double eps, bool relu, Stream s) {
  visit_activation(x.dtype(), "batchnorm_forward_eval", [&](auto z) {
    forward_eval_typed<decltype(z)>(x, gamma, beta, running_mean, running_var, y, v, eps, relu,
                                    s);
  });
}

void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y,
                              ChannelView v, Stream s) {
  visit_activation(x.dtype(), "batchnorm_backward_train", [&](auto z) {
    backward_train_typed<decltype(z)>(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                                      relu_y, v, s);
  });
}

}  // namespace cuda
}  // namespace minidl
