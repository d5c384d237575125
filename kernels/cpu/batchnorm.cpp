// CPU batch normalisation: one task per channel (parallel_for over C); inside a channel, the
// `outer` runs of `inner` contiguous values (NCHW: N runs of H*W) are read in order. Each run is
// summed in 8 lanes of T, the runs' sums in double, so f32 statistics over large batches stay
// accurate. The variance comes from one pass over x - shift (shift = the channel's first value).
// Each chunk of channels runs through the ISA launcher (kernels/cpu/isa_dispatch.h): the 8-lane
// sums and the element loops use the widest vectors the CPU has; the lanes, and so the bits, stay.
// A fused ReLU adds no pass: it is applied as each value is written (forward) or read (backward).
//
// Channels-last x (and [N, C]) is R rows of C contiguous values: there a channel's values lie C
// apart, and a task per channel would stride through the whole tensor for each one (20x slower,
// measured). So rows get their own path (`rows_*`): fixed blocks of kRowBlock rows are the tasks,
// each adding its rows into per-channel partials in T (the loop over channels vectorises), and the
// blocks' partials are added in block order in double: the same bits for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/cpu/isa_dispatch.h"
#include "kernels/image_layout.h"

namespace minidl {
namespace cpu {
namespace {

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Per-run sums, in one vector of T lanes (GCC/Clang vector extensions: 8 f32 or 4 f64 lanes, which
// the compiler maps to whatever SIMD the build targets) per sum, then the lanes in order and the
// tail, added into the channel's double totals. A fixed order for any thread count; a run is one
// H*W plane, short enough for T's precision.
template <typename T>
struct LanesOf;
template <>
struct LanesOf<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct LanesOf<double> {
  typedef double type __attribute__((vector_size(32)));
};
template <typename T>
using Lanes = typename LanesOf<T>::type;

template <typename T>
inline void load_lanes(const T* p, Lanes<T>& v) {
  std::memcpy(&v, p, sizeof v);
}

// sum += sum(x - shift), sq += sum((x - shift)^2) over x[0, n)
template <typename T>
void run_moments(const T* x, int64_t n, T shift, double& sum, double& sq) {
  constexpr int L = sizeof(Lanes<T>) / sizeof(T);
  Lanes<T> a = {}, b = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    Lanes<T> d;
    load_lanes(x + i, d);
    d -= shift;
    a += d;
    b += d * d;
  }
  for (int l = 0; l < L; ++l) {
    sum += a[l];
    sq += b[l];
  }
  for (; i < n; ++i) {
    const T d = x[i] - shift;
    sum += d;
    sq += d * d;
  }
}

// sum_dy += sum(g), sum_dyx += sum(g * (x - mean)) over [0, n), where g = dy, or with a fused ReLU
// (y non-null) g = dy masked by y > 0: the values relu_backward would have written, summed in the
// same lanes.
template <typename T>
void run_dots(const T* x, const T* dy, const T* y, int64_t n, T mean, double& sum_dy,
              double& sum_dyx) {
  constexpr int L = sizeof(Lanes<T>) / sizeof(T);
  Lanes<T> a = {}, b = {};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    Lanes<T> g, v;
    load_lanes(dy + i, g);
    load_lanes(x + i, v);
    if (y) {  // relu_backward_element on every lane, as one vector select
      Lanes<T> w;
      load_lanes(y + i, w);
      const Lanes<T> zero = {};
      g = w > zero ? g : zero;
    }
    a += g;
    b += g * (v - mean);
  }
  for (int l = 0; l < L; ++l) {
    sum_dy += a[l];
    sum_dyx += b[l];
  }
  for (; i < n; ++i) {
    const T g = y ? relu_backward_element(y[i], dy[i]) : dy[i];
    sum_dy += g;
    sum_dyx += g * (x[i] - mean);
  }
}

// y[0, n) = bn(x[0, n)), then max(., 0) with a fused ReLU (two loops, so each vectorises).
template <typename T>
void normalize_run(const T* x, T* y, int64_t n, T mean, T invstd, T g, T b, bool relu) {
  if (relu)
    for (int64_t i = 0; i < n; ++i) y[i] = relu_forward_element(bn_normalize(x[i], mean, invstd, g, b));
  else
    for (int64_t i = 0; i < n; ++i) y[i] = bn_normalize(x[i], mean, invstd, g, b);
}

// Calls f(run pointer offset, run length) for the runs of channel c.
template <typename F>
void for_each_run(const ChannelView& v, int64_t c, F f) {
  for (int64_t o = 0; o < v.outer; ++o) f(c * v.cs + o * v.os, v.inner);
}

// ---- rows of channels (channels-last, [N, C]) ----

constexpr int64_t kRowBlock = 128;

bool is_rows(const ChannelView& v) {
  return v.inner == 1 && v.cs == 1 && v.os == v.C;
}

int64_t row_blocks(const ChannelView& v) {
  return (v.outer + kRowBlock - 1) / kRowBlock;
}

// Calls f(first row, end row) for every block, kRowBlock rows each, in parallel; f runs under the
// ISA launcher.
template <typename F>
void for_each_row_block(const ChannelView& v, F f) {
  const CpuIsa isa = cpu_isa();
  parallel_for(row_blocks(v), 1, [&](int64_t b0, int64_t b1) {
    isa_call(isa, [&] {
      for (int64_t b = b0; b < b1; ++b) f(b * kRowBlock, std::min(v.outer, (b + 1) * kRowBlock));
    });
  });
}

// total[c] = the sum over blocks, in block order, of part[block * C + c].
void add_blocks(const std::vector<double>& part, int64_t blocks, int64_t C, std::vector<double>& total) {
  total.assign(static_cast<size_t>(C), 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < C; ++c) total[c] += part[b * C + c];
}

// y = bn(x) row by row, with per-channel mean, invstd, gamma, beta.
template <typename T>
void rows_normalize(const T* px, T* py, const ChannelView& v, const std::vector<T>& mean,
                    const std::vector<T>& invstd, const std::vector<T>& g, const std::vector<T>& b,
                    bool relu) {
  const int64_t C = v.C;
  for_each_row_block(v, [&](int64_t r0, int64_t r1) {
    const T *__restrict m = mean.data(), *__restrict is = invstd.data(), *__restrict gp = g.data(),
                        *__restrict bp = b.data();
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict xr = px + r * C;
      T* __restrict yr = py + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = bn_normalize(xr[c], m[c], is[c], gp[c], bp[c]);
      if (relu)
        for (int64_t c = 0; c < C; ++c) yr[c] = relu_forward_element(yr[c]);
    }
  });
}

template <typename T>
void affine_of(const T* pg, const T* pb, int64_t C, std::vector<T>& g, std::vector<T>& b) {
  g.resize(static_cast<size_t>(C));
  b.resize(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) g[c] = pg ? pg[c] : T(1), b[c] = pb ? pb[c] : T(0);
}

template <typename T>
void rows_forward_train(const T* px, T* py, const T* pg, const T* pb, T* pm, T* pi, T* prm, T* prv,
                        const ChannelView& v, double momentum, double eps, bool relu) {
  const int64_t C = v.C, blocks = row_blocks(v);
  // Shifted by each channel's first value, as the per-channel path (row 0 holds them).
  const std::vector<T> shift(px, px + C);
  std::vector<double> part_sum(static_cast<size_t>(blocks * C)), part_sq(part_sum.size());
  for_each_row_block(v, [&](int64_t r0, int64_t r1) {
    std::vector<T> a_buf(static_cast<size_t>(C), T(0)), q_buf(a_buf);
    // __restrict: the partials alias nothing, so the channel loop vectorises without a check
    T *__restrict a = a_buf.data(), *__restrict q = q_buf.data();
    const T* __restrict sh = shift.data();
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict xr = px + r * C;
      for (int64_t c = 0; c < C; ++c) {
        const T d = xr[c] - sh[c];
        a[c] += d;
        q[c] += d * d;
      }
    }
    const int64_t b = r0 / kRowBlock;
    for (int64_t c = 0; c < C; ++c) part_sum[b * C + c] = a[c], part_sq[b * C + c] = q[c];
  });
  std::vector<double> sum, sq;
  add_blocks(part_sum, blocks, C, sum);
  add_blocks(part_sq, blocks, C, sq);
  const int64_t count = v.outer;
  std::vector<T> mean(static_cast<size_t>(C)), invstd(mean.size()), g, b;
  for (int64_t c = 0; c < C; ++c) {
    const double mean_d = sum[c] / static_cast<double>(count);
    mean[c] = static_cast<T>(static_cast<double>(shift[c]) + mean_d);
    const double m2 = std::max(0.0, sq[c] - sum[c] * mean_d);
    const T var = static_cast<T>(m2 / static_cast<double>(count));
    invstd[c] = bn_invstd(var, eps);
    pm[c] = mean[c];
    pi[c] = invstd[c];
    if (prm) bn_running_update(prm[c], prv[c], mean[c], var, count, momentum);
  }
  affine_of(pg, pb, C, g, b);
  rows_normalize(px, py, v, mean, invstd, g, b, relu);
}

template <typename T>
void rows_backward_train(const T* px, const T* pdy, const T* pry, T* pdx, const T* pg,
                         const T* pm, const T* pi, T* pdg, T* pdb, const ChannelView& v) {
  const int64_t C = v.C, blocks = row_blocks(v);
  std::vector<double> part_dy(static_cast<size_t>(blocks * C)), part_dyx(part_dy.size());
  for_each_row_block(v, [&](int64_t r0, int64_t r1) {
    std::vector<T> a_buf(static_cast<size_t>(C), T(0)), q_buf(a_buf);
    T *__restrict a = a_buf.data(), *__restrict q = q_buf.data();
    for (int64_t r = r0; r < r1; ++r) {
      const T *__restrict xr = px + r * C, *__restrict dyr = pdy + r * C;
      if (pry) {
        const T* __restrict yr = pry + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const T gr = relu_backward_element(yr[c], dyr[c]);
          a[c] += gr;
          q[c] += gr * (xr[c] - pm[c]);
        }
      } else {
        for (int64_t c = 0; c < C; ++c) {
          a[c] += dyr[c];
          q[c] += dyr[c] * (xr[c] - pm[c]);
        }
      }
    }
    const int64_t b = r0 / kRowBlock;
    for (int64_t c = 0; c < C; ++c) part_dy[b * C + c] = a[c], part_dyx[b * C + c] = q[c];
  });
  std::vector<double> sum_dy, sum_dyx;
  add_blocks(part_dy, blocks, C, sum_dy);
  add_blocks(part_dyx, blocks, C, sum_dyx);
  const double count = static_cast<double>(v.outer);
  std::vector<T> mean_dy(static_cast<size_t>(C)), mean_dyx(mean_dy.size()), g(mean_dy.size());
  for (int64_t c = 0; c < C; ++c) {
    sum_dyx[c] *= pi[c];
    if (pdg) pdg[c] += static_cast<T>(sum_dyx[c]);
    if (pdb) pdb[c] += static_cast<T>(sum_dy[c]);
    mean_dy[c] = static_cast<T>(sum_dy[c] / count);
    mean_dyx[c] = static_cast<T>(sum_dyx[c] / count);
    g[c] = pg ? pg[c] : T(1);
  }
  if (!pdx) return;
  const T *__restrict gp = g.data(), *__restrict mdy = mean_dy.data(),
                      *__restrict mdyx = mean_dyx.data();
  for_each_row_block(v, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T *__restrict xr = px + r * C, *__restrict dyr = pdy + r * C;
      T* __restrict dxr = pdx + r * C;
      if (pry) {
        const T* __restrict yr = pry + r * C;
        for (int64_t c = 0; c < C; ++c)
          dxr[c] = bn_backward_element(relu_backward_element(yr[c], dyr[c]), xr[c], pm[c], pi[c],
                                       gp[c], mdy[c], mdyx[c]);
      } else {
        for (int64_t c = 0; c < C; ++c)
          dxr[c] = bn_backward_element(dyr[c], xr[c], pm[c], pi[c], gp[c], mdy[c], mdyx[c]);
      }
    }
  });
}

// ---- one task per channel (NCHW) ----

template <typename T>
void forward_train_typed(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                         const Tensor& save_mean, const Tensor& save_invstd,
                         const Tensor& running_mean, const Tensor& running_var, ChannelView v,
                         double momentum, double eps, bool relu) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T *pg = ptr_or_null<T>(gamma), *pb = ptr_or_null<T>(beta);
  T *pm = save_mean.data<T>(), *pi = save_invstd.data<T>();
  T *prm = running_mean.defined() ? running_mean.data<T>() : nullptr,
    *prv = running_var.defined() ? running_var.data<T>() : nullptr;
  if (is_rows(v))
    return rows_forward_train(px, py, pg, pb, pm, pi, prm, prv, v, momentum, eps, relu);
  const int64_t count = v.outer * v.inner;
  const CpuIsa isa = cpu_isa();
  parallel_for(v.C, 1, [&](int64_t c0, int64_t c1) {
    isa_call(isa, [&] {
      for (int64_t c = c0; c < c1; ++c) {
        // One pass: sums of d = x - shift and d^2, shifted by the channel's first value so that
        // the variance (E[d^2] - E[d]^2, in double) does not cancel when |mean| >> std.
        const double shift = px[c * v.cs];  // exactly representable in T
        double sum = 0, sq = 0;
        for_each_run(v, c, [&](int64_t off, int64_t n) {
          run_moments(px + off, n, static_cast<T>(shift), sum, sq);
        });
        const double mean_d = sum / static_cast<double>(count);
        const T mean = static_cast<T>(shift + mean_d);
        sq = std::max(0.0, sq - sum * mean_d);
        const T var = static_cast<T>(sq / static_cast<double>(count));
        const T invstd = bn_invstd(var, eps);
        pm[c] = mean;
        pi[c] = invstd;
        if (prm) bn_running_update(prm[c], prv[c], mean, var, count, momentum);
        const T g = pg ? pg[c] : T(1), b = pb ? pb[c] : T(0);
        for_each_run(v, c, [&](int64_t off, int64_t n) {
          normalize_run(px + off, py + off, n, mean, invstd, g, b, relu);
        });
      }
    });
  });
}

template <typename T>
void forward_eval_typed(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                        ChannelView v, double eps, bool relu) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T *pg = ptr_or_null<T>(gamma), *pb = ptr_or_null<T>(beta);
  const T *prm = running_mean.data<T>(), *prv = running_var.data<T>();
  if (is_rows(v)) {
    std::vector<T> mean(prm, prm + v.C), invstd(static_cast<size_t>(v.C)), g, b;
    for (int64_t c = 0; c < v.C; ++c) invstd[c] = bn_invstd(prv[c], eps);
    affine_of(pg, pb, v.C, g, b);
    return rows_normalize(px, py, v, mean, invstd, g, b, relu);
  }
  const CpuIsa isa = cpu_isa();
  parallel_for(v.C, 1, [&](int64_t c0, int64_t c1) {
    isa_call(isa, [&] {
      for (int64_t c = c0; c < c1; ++c) {
        const T mean = prm[c], invstd = bn_invstd(prv[c], eps);
        const T g = pg ? pg[c] : T(1), b = pb ? pb[c] : T(0);
        for_each_run(v, c, [&](int64_t off, int64_t n) {
          normalize_run(px + off, py + off, n, mean, invstd, g, b, relu);
        });
      }
    });
  });
}

template <typename T>
void backward_train_typed(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                          const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y,
                          ChannelView v) {
  const T *px = x.data<T>(), *pdy = dy.data<T>(), *pry = ptr_or_null<T>(relu_y);
  T* pdx = dx.defined() ? dx.data<T>() : nullptr;
  const T* pg = ptr_or_null<T>(gamma);
  const T *pm = save_mean.data<T>(), *pi = save_invstd.data<T>();
  T *pdg = dgamma.defined() ? dgamma.data<T>() : nullptr,
    *pdb = dbeta.defined() ? dbeta.data<T>() : nullptr;
  if (is_rows(v)) return rows_backward_train(px, pdy, pry, pdx, pg, pm, pi, pdg, pdb, v);
  const double count = static_cast<double>(v.outer * v.inner);
  const CpuIsa isa = cpu_isa();
  parallel_for(v.C, 1, [&](int64_t c0, int64_t c1) {
    isa_call(isa, [&] {
      for (int64_t c = c0; c < c1; ++c) {
        const T mean = pm[c], invstd = pi[c];
        double sum_dy = 0, sum_dy_xhat = 0;
        for_each_run(v, c, [&](int64_t off, int64_t n) {
          run_dots(px + off, pdy + off, pry ? pry + off : nullptr, n, mean, sum_dy, sum_dy_xhat);
        });
        sum_dy_xhat *= invstd;
        if (pdg) pdg[c] += static_cast<T>(sum_dy_xhat);
        if (pdb) pdb[c] += static_cast<T>(sum_dy);
        if (!pdx) continue;
        const T g = pg ? pg[c] : T(1);
        const T mean_dy = static_cast<T>(sum_dy / count),
                mean_dy_xhat = static_cast<T>(sum_dy_xhat / count);
        for_each_run(v, c, [&](int64_t off, int64_t n) {
          const T *xr = px + off, *dyr = pdy + off;
          T* dxr = pdx + off;
          if (pry) {
            const T* yr = pry + off;
            for (int64_t i = 0; i < n; ++i)
              dxr[i] = bn_backward_element(relu_backward_element(yr[i], dyr[i]), xr[i], mean,
                                           invstd, g, mean_dy, mean_dy_xhat);
          } else {
            for (int64_t i = 0; i < n; ++i)
              dxr[i] = bn_backward_element(dyr[i], xr[i], mean, invstd, g, mean_dy, mean_dy_xhat);
          }
        });
      }
    });
  });
}

// bf16 / f16 activations: x (dy, relu_y) widened to f32 (exact), the f32 path with its f32
// parameters and statistics, y (dx) rounded once: what the CUDA twin computes value by value.
Tensor widened(const Tensor& t) {
  return t.defined() ? t.to(DType::f32) : t;
}
Tensor f32_for(const Tensor& t) {
  return t.defined() ? empty_like_layout(t.shape(), t, DType::f32) : t;
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                             const Tensor& running_mean, const Tensor& running_var, ChannelView v,
                             double momentum, double eps, bool relu, Stream s) {
  if (is_16bit_float(x.dtype())) {
    Tensor y32 = f32_for(y);
    batchnorm_forward_train(widened(x), gamma, beta, y32, save_mean, save_invstd, running_mean,
                            running_var, v, momentum, eps, relu, s);
    Tensor(y).copy_(y32);
    return;
  }
  visit_floating(x.dtype(), "batchnorm_forward_train", [&](auto z) {
    forward_train_typed<decltype(z)>(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                     running_var, v, momentum, eps, relu);
  });
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                            ChannelView v, double eps, bool relu, Stream s) {
  if (is_16bit_float(x.dtype())) {
    Tensor y32 = f32_for(y);
    batchnorm_forward_eval(widened(x), gamma, beta, running_mean, running_var, y32, v, eps, relu,
                           s);
    Tensor(y).copy_(y32);
    return;
  }
  visit_floating(x.dtype(), "batchnorm_forward_eval", [&](auto z) {
    forward_eval_typed<decltype(z)>(x, gamma, beta, running_mean, running_var, y, v, eps, relu);
  });
}

void batchnorm_backward_train(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, const Tensor& dx,
                              const Tensor& dgamma, const Tensor& dbeta, const Tensor& relu_y,
                              ChannelView v, Stream s) {
  if (is_16bit_float(x.dtype())) {
    Tensor dx32 = f32_for(dx);
    batchnorm_backward_train(widened(x), widened(dy), gamma, save_mean, save_invstd, dx32, dgamma,
                             dbeta, widened(relu_y), v, s);
    if (dx.defined()) Tensor(dx).copy_(dx32);
    return;
  }
  visit_floating(x.dtype(), "batchnorm_backward_train", [&](auto z) {
    backward_train_typed<decltype(z)>(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                                      relu_y, v);
  });
}

}  // namespace cpu
}  // namespace minidl
