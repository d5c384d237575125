// Kernel benchmark: CPU GEMM GFLOP/s for square sizes 256..2048 and element-wise GB/s beside
// memcpy (64 MiB tensors, bound by memory, and 512 KiB ones, which stay in L2 and show the
// instruction set: MINIDL_CPU_ISA=baseline|avx2|avx512 to compare); batch norm + ReLU in training,
// fused (one kernel each way) beside the unfused pair, at ResNet shapes; on a GPU, cuBLAS TFLOP/s
// and element-wise GB/s beside a device-to-device copy.
//
//   build/release/tools/minidl_bench_kernels [--cpu-only] [--gpu-only]
//
// Bandwidth counts bytes read + bytes written once each. Times are the median of repeated runs
// after a warm-up; GPU times come from CUDA events around many launches.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/copy.h"
#include "core/cpu_isa.h"
#include "core/fill.h"
#include "core/parallel.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/image_layout.h"
#include "kernels/random.h"
#include "kernels/reduce.h"

using namespace minidl;

namespace {

// Median seconds per call of fn, timed on the host (after sync), repeated for about `budget`
// seconds.
double time_host(const std::function<void()>& fn, Device dev, double budget = 0.4) {
  fn();
  synchronize(dev);
  std::vector<double> runs;
  auto start_all = std::chrono::steady_clock::now();
  while (runs.size() < 5 ||
         (std::chrono::duration<double>(std::chrono::steady_clock::now() - start_all).count() <
              budget &&
          runs.size() < 200)) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(dev);
    runs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// GPU: time `reps` back-to-back calls between two events.
double time_gpu(const std::function<void()>& fn, Device dev, int reps = 50) {
  fn();
  synchronize(dev);
  Event a(dev, true), b(dev, true);
  a.record(current_stream(dev));
  for (int i = 0; i < reps; ++i) fn();
  b.record(current_stream(dev));
  b.synchronize();
  return a.elapsed_ms(b) / 1000.0 / reps;
}

// Element-wise GB/s of n-element f32 tensors, beside a copy of the same size.
void bench_elementwise(Device dev, int64_t n,
                       const std::function<double(const std::function<void()>&)>& timer) {
  const bool gpu = dev.is_cuda();
  Tensor x = Tensor::empty({n}, DType::f32, dev), y = Tensor::empty({n}, DType::f32, dev),
         z = Tensor::empty({n}, DType::f32, dev);
  uniform_(x, -1, 1, 3, 0);
  uniform_(y, -1, 1, 4, 0);
  double bytes = 4.0 * n;
  Tensor sum_out = Tensor::empty({1}, DType::f32, dev), h = Tensor::empty({n}, DType::bf16, dev);
  struct Row {
    const char* name;
    double bytes;
    std::function<void()> fn;
  };
  std::vector<Row> rows = {
      {gpu ? "device-to-device copy" : "memcpy (1 thread)", 2 * bytes,
       [&] {
         if (gpu)
           copy_bytes(z.data_ptr(), dev, x.data_ptr(), dev, x.nbytes());
         else
           std::memcpy(z.data_ptr(), x.data_ptr(), x.nbytes());
       }},
      {"copy", 2 * bytes, [&] { copy(z, x); }},
      {"fill", bytes, [&] { fill(z, 1.0); }},
      {"scale  (z = a x)", 2 * bytes, [&] { scale(2.f, x, z); }},
      {"add    (z = x + y)", 3 * bytes, [&] { add(x, y, z); }},
      {"axpy   (y += a x)", 3 * bytes, [&] { axpy(0.5f, x, y); }},
      {"relu_forward", 2 * bytes, [&] { relu_forward(x, z); }},
      {"relu_backward", 3 * bytes, [&] { relu_backward(x, y, z); }},
      {"cast f32 -> bf16", 1.5 * bytes, [&] { copy(h, x); }},
      {"sum (all elements)", bytes, [&] { sum(x, sum_out); }},
      {"dropout (p = 0.5)", 2 * bytes, [&] { dropout_forward(x, z, 0.5f, 7, 0); }},
  };
  double copy_gbs = 0;
  std::printf("Element-wise, %lld f32 elements (GB/s = bytes read + written / time)\n",
              static_cast<long long>(n));
  for (const Row& r : rows) {
    double s = timer(r.fn);
    double gbs = r.bytes / s / 1e9;
    if (copy_gbs == 0) copy_gbs = gbs;
    std::printf("  %-24s %8.1f GB/s  %5.0f%% of %s\n", r.name, gbs, 100.0 * gbs / copy_gbs,
                gpu ? "copy" : "memcpy");
  }
}

// Batch norm then ReLU, training forward and backward, as two kernels each way (BatchNorm2d then
// ReLU unfused) and as one (layers/fusion.h), on [N, C, H, W] f32 NCHW.
void bench_bn_relu(Device dev, const Shape& shape,
                   const std::function<double(const std::function<void()>&)>& timer) {
  const int64_t C = shape[1];
  auto make = [&](uint64_t seed) {
    Tensor t = Tensor::empty(shape, DType::f32, dev);
    uniform_(t, -1, 1, seed, 0);
    return t;
  };
  Tensor x = make(11), dy = make(12), y = make(13), r = make(14), d = make(15), dx = make(16);
  Tensor gamma = Tensor::full({C}, 1.0).to(dev), beta = Tensor::zeros({C}).to(dev);
  Tensor mean = Tensor::empty({C}, DType::f32, dev), invstd = Tensor::empty({C}, DType::f32, dev);
  Tensor dg = Tensor::zeros({C}).to(dev), db = Tensor::zeros({C}).to(dev);
  const double fwd_pair = timer([&] {
    batchnorm_forward_train(x, gamma, beta, y, mean, invstd, Tensor(), Tensor(), 0.1, 1e-5);
    relu_forward(y, r);
  });
  const double bwd_pair = timer([&] {
    relu_backward(r, dy, d);
    batchnorm_backward_train(x, d, gamma, mean, invstd, dx, dg, db);
  });
  const double fwd_fused = timer([&] {
    batchnorm_forward_train(x, gamma, beta, r, mean, invstd, Tensor(), Tensor(), 0.1, 1e-5, true);
  });
  const double bwd_fused =
      timer([&] { batchnorm_backward_train(x, dy, gamma, mean, invstd, dx, dg, db, r); });
  std::printf("  %-18s forward %7.3f ms -> %7.3f ms fused   backward %7.3f ms -> %7.3f ms fused\n",
              shape_str(shape).c_str(), fwd_pair * 1e3, fwd_fused * 1e3, bwd_pair * 1e3,
              bwd_fused * 1e3);
}

void bench_device(Device dev) {
  bool gpu = dev.is_cuda();
  auto timer = [&](const std::function<void()>& fn) {
    return gpu ? time_gpu(fn, dev) : time_host(fn, dev);
  };
  std::printf("\n== %s%s\n", dev.str().c_str(),
              gpu ? "" : (" (" + std::to_string(num_threads()) + " threads)").c_str());

  std::printf("GEMM (f32, C = A B, square)\n");
  std::vector<int64_t> sizes = {256, 512, 1024, 2048};
  if (gpu) sizes.insert(sizes.end(), {4096, 8192});
  for (int64_t n : sizes) {
    Tensor a = Tensor::empty({n, n}, DType::f32, dev), b = Tensor::empty({n, n}, DType::f32, dev),
           c = Tensor::empty({n, n}, DType::f32, dev);
    uniform_(a, -1, 1, 1, 0);
    uniform_(b, -1, 1, 2, 0);
    double s = timer([&] { gemm(false, false, 1.f, a, b, 0.f, c); });
    double flops = 2.0 * n * n * n / s;
    if (gpu)
      std::printf("  %5lld: %8.2f TFLOP/s  (%.3f ms)\n", static_cast<long long>(n), flops / 1e12,
                  s * 1e3);
    else
      std::printf("  %5lld: %8.1f GFLOP/s  (%.2f ms)\n", static_cast<long long>(n), flops / 1e9,
                  s * 1e3);
  }

  // Memory-bound sizes, then (CPU) one that stays in L2, where the instruction set shows.
  if (gpu) {
    bench_elementwise(dev, int64_t(1) << 26, timer);  // 256 MiB of f32 per tensor
  } else {
    bench_elementwise(dev, int64_t(1) << 24, timer);  // 64 MiB
    bench_elementwise(dev, int64_t(1) << 17, timer);  // 512 KiB: in L2 (per core: half of each)
  }
  std::printf("Batch norm + ReLU, training (f32 NCHW; BatchNorm2d then ReLU -> fused)\n");
  for (const Shape& s : {Shape{128, 16, 32, 32}, Shape{128, 32, 16, 16}, Shape{128, 64, 8, 8}})
    bench_bn_relu(dev, s, timer);
}

}  // namespace

int main(int argc, char** argv) {
  bool cpu = true, gpu = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-only"))
      gpu = false;
    else if (!std::strcmp(argv[i], "--gpu-only"))
      cpu = false;
    else {
      std::fprintf(stderr,
                   "minidl_bench_kernels: unknown flag '%s' (known: --cpu-only, --gpu-only)\n",
                   argv[i]);
      return 2;
    }
  }
  try {
    std::printf("minidl kernel benchmark (%s build, %d CUDA device(s))\n",
                MINIDL_WITH_CUDA ? "CUDA" : "CPU-only", cuda_device_count());
    std::printf("cpu isa: %s\n", cpu_isa_summary().c_str());
    if (cpu) bench_device(Device::cpu());
    if (gpu && cuda_device_count() > 0)
      bench_device(Device::cuda(0));
    else if (gpu)
      std::printf("\n(no CUDA device: GPU section skipped)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_bench_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
