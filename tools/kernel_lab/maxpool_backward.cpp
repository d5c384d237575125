// Kernel lab: the CPU max-pool backward (pool2d_backward with PoolKind::max, kernels/pool.h).
// dx = 0, then dx[argmax[j]] += dy[j] for every output j, argmax being what the forward recorded
// (h * W + w within the (n, c) plane).
//
//   build/lab/tools/kernel_lab/minidl_lab_maxpool_backward [--version N] [--threads T] [--runs R]
//                                                           [--check-only]
//
// Versions (without --version: all of them; with it: that one beside version 0):
//   0  the library's op, pool2d_backward through the public API: the reference.
//   1  gather: every input element scans each window holding it and sums the dy of the windows
//      whose argmax it is, finding its coordinates with 64-bit divisions (the CPU kernel before
//      commit 9edcdbd, "the before": 18.6 ms in the LeNet profile against PyTorch's 0.6 ms).
//   2  scatter: per (n, c) plane (NCHW) or image (NHWC), zero dx, then add dy at the argmax in
//      output order (kernels/cpu/pool.cpp max_backward as of 46ccdba, copied: "the after").
// Tried as version 3 and left out, both no faster than version 2 on any shape here (2 threads;
// docs/kernel_lab.md): zeroing dx rows just ahead of the scatter (0.6-0.95x), and one fill per
// parallel chunk rather than per plane, one loop for both layouts (0.7-1.0x).
// Every version adds a dx element's dy values in ascending output order starting from +0, the
// order the library promises (the CUDA twin's gather adds in it too), so the check is bit for bit:
// tolerance 0, for both layouts and dtypes.
//
// GB/s counts the bytes any version must move: dy and argmax read once, dx written once.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "core/dispatch.h"
#include "kernels/pool.h"
#include "tools/kernel_lab/lab.h"

using namespace minidl;

namespace {

const std::vector<const char*> kVersions = {"library op (reference)", "gather over windows",
                                            "scatter to argmax"};

constexpr int64_t kGrain = 1 << 12;  // the library's pooling grain (outputs per parallel chunk)

// ---- version 1: the gather --------------------------------------------------------------------

template <typename T>
void gather_backward(const T* dy, const int32_t* argmax, T* dx, const PoolGeometry& g) {
  const int64_t n_in = g.in.N * g.in.C * g.in.H * g.in.W;
  parallel_for(n_in, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t n, c, h, w;
      image_coords(g.in, i, n, c, h, w);
      int64_t oh0, oh1, ow0, ow1;
      pool_windows_holding(h, g.KH, g.SH, g.PH, g.out.H, oh0, oh1);
      pool_windows_holding(w, g.KW, g.SW, g.PW, g.out.W, ow0, ow1);
      const int32_t me = static_cast<int32_t>(h * g.in.W + w);
      T sum = T(0);
      for (int64_t oh = oh0; oh < oh1; ++oh)
        for (int64_t ow = ow0; ow < ow1; ++ow) {
          const int64_t j = image_offset(g.out, n, c, oh, ow);
          if (argmax[j] == me) sum += dy[j];
        }
      dx[i] = sum;
    }
  });
}

// ---- version 2: the scatter (as in kernels/cpu/pool.cpp) -------------------------------------

// Parallel over the `units` (planes or images) that each hold `per_unit` elements.
template <typename F>
void for_each_unit(int64_t units, int64_t per_unit, F f) {
  parallel_for(units, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, per_unit)),
               [&](int64_t b, int64_t e) {
                 for (int64_t u = b; u < e; ++u) f(u);
               });
}

// An argmax outside its plane (not written by the forward) must not make a scatter write
// outside dx; the library skips it, and so do the lab's versions.
inline bool in_plane(int32_t a, int64_t HW) {
  return a >= 0 && a < HW;
}

template <typename T>
void scatter_backward(const T* dy, const int32_t* argmax, T* dx, const PoolGeometry& g) {
  const int64_t HW = g.in.H * g.in.W, OHW = g.out.H * g.out.W;
  if (!g.in.channels_last) {
    for_each_unit(g.in.N * g.in.C, OHW + HW, [&](int64_t p) {
      T* plane = dx + p * HW;
      std::fill(plane, plane + HW, T(0));
      for (int64_t j = p * OHW; j < (p + 1) * OHW; ++j)
        if (in_plane(argmax[j], HW)) plane[argmax[j]] += dy[j];
    });
    return;
  }
  const int64_t C = g.in.C;  // NHWC: within image n, output (oh, ow, c) goes to dx[a * C + c]
  for_each_unit(g.in.N, (OHW + HW) * C, [&](int64_t n) {
    T* image = dx + n * HW * C;
    std::fill(image, image + HW * C, T(0));
    const int64_t j0 = n * OHW * C;
    for (int64_t q = 0; q < OHW; ++q)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t j = j0 + q * C + c;
        if (in_plane(argmax[j], HW)) image[static_cast<int64_t>(argmax[j]) * C + c] += dy[j];
      }
  });
}

// ---- problems ----------------------------------------------------------------------------------

PoolParams square_pool(int64_t k, int64_t s, int64_t pad, bool ceil_mode = false) {
  PoolParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil_mode;
  return p;
}

struct Case {
  const char* name;
  int64_t N, C, H, W;
  PoolParams p;
};

// LeNet's two pools at tools/bench/bench_models.cpp's batch 128 (conv1 and conv2 outputs), and an
// ImageNet ResNet stem pool (3x3, stride 2, pad 1: overlapping windows) at a smaller batch.
const Case kTimed[] = {{"lenet pool1", 128, 20, 24, 24, square_pool(2, 2, 0)},
                       {"lenet pool2", 128, 50, 8, 8, square_pool(2, 2, 0)},
                       {"resnet stem pool", 8, 64, 112, 112, square_pool(3, 2, 1)}};
// Small shapes for --check-only: padding, rows no window reaches, ceil mode, heavy overlap.
const Case kChecks[] = {{"3x3/2 pad 1", 2, 3, 9, 9, square_pool(3, 2, 1)},
                        {"2x2/2 odd size", 2, 3, 7, 7, square_pool(2, 2, 0)},
                        {"3x3/2 ceil", 2, 3, 8, 8, square_pool(3, 2, 0, true)},
                        {"3x3/1", 2, 5, 6, 6, square_pool(3, 1, 0)}};

struct Problem {
  PoolParams p;
  PoolGeometry g;
  Tensor dy, argmax, dx_ref;
};

// x from the library's forward gives the argmax. With `ties`, x takes 4 values only, so
// overlapping windows often share an argmax and its sum has several terms (order matters).
template <typename T>
Problem make_problem(const Case& c, bool channels_last, bool ties, uint32_t seed) {
  const MemoryFormat fmt = channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto values = [&](int64_t n, bool quantised) {
    std::vector<T> v(static_cast<size_t>(n));
    for (T& e : v) e = static_cast<T>(quantised ? std::floor(2.0 * u(rng)) : u(rng));
    return v;
  };
  Problem pr;
  pr.p = c.p;
  Tensor x = Tensor::from_vector(values(c.N * c.C * c.H * c.W, ties), {c.N, c.C, c.H, c.W})
                 .contiguous(fmt);
  pr.g = pool_geometry("minidl_lab_maxpool_backward", x, c.p);
  const Shape ys{pr.g.out.N, pr.g.out.C, pr.g.out.H, pr.g.out.W};
  Tensor y = Tensor::empty(ys, x.dtype(), Device::cpu(), fmt);
  pr.argmax = Tensor::empty(ys, DType::i32, Device::cpu(), fmt);
  pool2d_forward(PoolKind::max, x, y, pr.argmax, c.p);
  pr.dy = Tensor::from_vector(values(y.numel(), false), ys).contiguous(fmt);
  pr.dx_ref = Tensor::empty(x.shape(), x.dtype(), Device::cpu(), fmt);
  pool2d_backward(PoolKind::max, pr.dy, pr.argmax, pr.dx_ref, c.p);
  return pr;
}

void run_version(int v, const Problem& pr, const Tensor& dx) {
  if (v == 0) {
    pool2d_backward(PoolKind::max, pr.dy, pr.argmax, dx, pr.p);
    return;
  }
  visit_floating(dx.dtype(), "minidl_lab_maxpool_backward", [&](auto z) {
    using T = decltype(z);
    const T* dy = pr.dy.data<T>();
    const int32_t* a = pr.argmax.data<int32_t>();
    T* pdx = dx.data<T>();
    if (v == 1) gather_backward(dy, a, pdx, pr.g);
    if (v == 2) scatter_backward(dy, a, pdx, pr.g);
  });
}

// Version v's dx, from a dx full of NaN (an element it forgets to write shows), against the
// reference: the number of elements whose bits differ.
int64_t check_version(int v, const Problem& pr) {
  Tensor dx =
      Tensor::empty(pr.dx_ref.shape(), pr.dx_ref.dtype(), Device::cpu(), pr.dx_ref.memory_format());
  std::memset(dx.data_ptr(), 0xff, dx.nbytes());  // all bits set: a NaN in f32 and f64
  run_version(v, pr, dx);
  return lab::differing_elements(dx, pr.dx_ref);
}

std::string describe(const Case& c) {
  char s[96];
  std::snprintf(s, sizeof s, "%lldx%lldx%lldx%lld k%lld/s%lld/p%lld%s", static_cast<long long>(c.N),
                static_cast<long long>(c.C), static_cast<long long>(c.H),
                static_cast<long long>(c.W), static_cast<long long>(c.p.kernel_h),
                static_cast<long long>(c.p.stride_h), static_cast<long long>(c.p.pad_h),
                c.p.ceil_mode ? " ceil" : "");
  return s;
}

std::vector<int> versions_to_run(const lab::LabOptions& o) {
  if (o.version < 0) return {0, 1, 2};
  if (o.version == 0) return {0};
  return {0, o.version};
}

// Each version once on the small shapes, f32 and f64, both layouts; a line per mismatch.
int check_only(const lab::LabOptions& o) {
  int failures = 0, checks = 0;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& c : kChecks)
      for (bool cl : {false, true}) {
        visit_floating(dt, "check", [&](auto z) {
          const Problem pr = make_problem<decltype(z)>(c, cl, true, 7);
          for (int v : versions_to_run(o)) {
            const int64_t bad = check_version(v, pr);
            ++checks;
            if (bad == 0) continue;
            ++failures;
            std::printf("FAIL v%d %s %s %s: %lld of %lld elements differ\n", v, c.name,
                        describe(c).c_str(), cl ? "nhwc" : "nchw", static_cast<long long>(bad),
                        static_cast<long long>(pr.dx_ref.numel()));
          }
        });
      }
  std::printf("%d checks, %d failed (bit for bit against the library's op, %d threads)\n", checks,
              failures, num_threads());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  const lab::LabOptions o = lab::parse_lab_options(argc, argv, "maxpool_backward", kVersions);
  if (o.check_only) return check_only(o);
  std::printf("max-pool backward, f32, %d threads, median of %d runs; %s\n", num_threads(), o.runs,
              lab::cpu_summary().c_str());
  std::printf("%-17s %-26s %-6s %-26s %9s %8s %7s  %s\n", "shape", "", "layout", "version", "ms",
              "GB/s", "vs v0", "check");
  int failures = 0;
  for (const Case& c : kTimed)
    for (bool cl : {false, true}) {
      const Problem pr = make_problem<float>(c, cl, false, 1);
      const double bytes =
          static_cast<double>(pr.dy.nbytes() + pr.argmax.nbytes() + pr.dx_ref.nbytes());
      Tensor dx =
          Tensor::empty(pr.dx_ref.shape(), DType::f32, Device::cpu(), pr.dx_ref.memory_format());
      double ms0 = 0;
      for (int v : versions_to_run(o)) {
        const int64_t bad = check_version(v, pr);
        failures += bad != 0;
        const double ms = lab::median_ms([&] { run_version(v, pr, dx); }, o.runs);
        if (v == 0) ms0 = ms;
        const std::string check = v == 0     ? "reference"
                                  : bad == 0 ? "same bits"
                                             : "FAIL: " + std::to_string(bad) + " differ";
        std::printf("%-17s %-26s %-6s %d %-24s %9.3f %8.2f %6.2fx  %s\n", c.name,
                    describe(c).c_str(), cl ? "nhwc" : "nchw", v, kVersions[v], ms,
                    bytes / ms / 1e6, ms0 / ms, check.c_str());
        std::fflush(stdout);
      }
    }
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "minidl_lab_maxpool_backward: %s\n", e.what());
  return 1;
}
