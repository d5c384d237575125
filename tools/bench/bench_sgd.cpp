// Fused SGD step benchmark: effective bandwidth of one step over the parameter sets of resnet-56
// (CIFAR, 853,018 parameters, 167 tensors) and torchvision's resnet50 (25,557,032 parameters, 161
// tensors), beside memcpy on the CPU and a device-to-device copy on a GPU.
//
//   build/release/tools/minidl_bench_sgd [--cpu-only] [--gpu-only]
//
// Bytes per element: the update reads w, g, m and writes w, m (20 B for f32 values; with bf16
// values it reads master, g, m and writes master, m and the 2-byte value: 22 B); the non-finite
// check reads g once more (4 B). "update GB/s" counts the update's bytes only, "moved GB/s" all
// of them. The parameter shapes are built here, their totals checked against the published
// counts, and packed into one arena as a model's parameters are (layers/arena.h). Times are medians
// (CPU) or event-timed averages over many steps (GPU).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/cpu_isa.h"
#include "core/parallel.h"
#include "kernels/elementwise.h"
#include "kernels/random.h"
#include "optim/sgd.h"

using namespace minidl;

namespace {

struct ParamShape {
  std::string name;
  Shape shape;
  bool bias_or_norm;
};

void add_bn(std::vector<ParamShape>& out, const std::string& prefix, int64_t c) {
  out.push_back({prefix + ".weight", {c}, true});
  out.push_back({prefix + ".bias", {c}, true});
}

// CIFAR ResNet-56 with option-A (parameter-free) shortcuts: conv 3x3 16, three stages of nine
// BasicBlocks (two 3x3 convs + BN each) of widths 16/32/64, fc 64 -> 10. No conv biases.
std::vector<ParamShape> resnet56_shapes() {
  std::vector<ParamShape> out = {{"conv1.weight", {16, 3, 3, 3}, false}};
  add_bn(out, "bn1", 16);
  int64_t in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    int64_t width = 16 << stage;
    for (int b = 0; b < 9; ++b) {
      std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      out.push_back({p + ".conv1.weight", {width, in, 3, 3}, false});
      add_bn(out, p + ".bn1", width);
      out.push_back({p + ".conv2.weight", {width, width, 3, 3}, false});
      add_bn(out, p + ".bn2", width);
      in = width;
    }
  }
  out.push_back({"fc.weight", {10, 64}, false});
  out.push_back({"fc.bias", {10}, true});
  return out;
}

// torchvision resnet50: Bottleneck blocks [3, 4, 6, 3], widths 64..512, expansion 4.
std::vector<ParamShape> resnet50_shapes() {
  std::vector<ParamShape> out = {{"conv1.weight", {64, 3, 7, 7}, false}};
  add_bn(out, "bn1", 64);
  const int blocks[] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int layer = 0; layer < 4; ++layer) {
    int64_t width = 64 << layer;
    for (int b = 0; b < blocks[layer]; ++b) {
      std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(b);
      out.push_back({p + ".conv1.weight", {width, in, 1, 1}, false});
      add_bn(out, p + ".bn1", width);
      out.push_back({p + ".conv2.weight", {width, width, 3, 3}, false});
      add_bn(out, p + ".bn2", width);
      out.push_back({p + ".conv3.weight", {4 * width, width, 1, 1}, false});
      add_bn(out, p + ".bn3", 4 * width);
      if (b == 0) {
        out.push_back({p + ".downsample.0.weight", {4 * width, in, 1, 1}, false});
        add_bn(out, p + ".downsample.1", 4 * width);
      }
      in = 4 * width;
    }
  }
  out.push_back({"fc.weight", {1000, 2048}, false});
  out.push_back({"fc.bias", {1000}, true});
  return out;
}

int64_t total(const std::vector<ParamShape>& shapes) {
  int64_t n = 0;
  for (const ParamShape& s : shapes) n += shape_numel(s.shape);
  return n;
}

double time_host(const std::function<void()>& fn, double budget = 0.5) {
  fn();
  std::vector<double> runs;
  auto start = std::chrono::steady_clock::now();
  auto since = [](auto t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  while (runs.size() < 5 || (since(start) < budget && runs.size() < 300)) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    runs.push_back(since(t0));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

double time_gpu(const std::function<void()>& fn, Device dev, int reps = 100) {
  fn();
  synchronize(dev);
  Event a(dev, true), b(dev, true);
  a.record(current_stream(dev));
  for (int i = 0; i < reps; ++i) fn();
  b.record(current_stream(dev));
  b.synchronize();
  return a.elapsed_ms(b) / 1000.0 / reps;
}

// Seconds per fused step of `shapes` with values of `dtype` on `dev`.
double time_step(const std::vector<ParamShape>& shapes, DType dtype, Device dev) {
  std::vector<Parameter> params(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    Parameter& p = params[i];
    p.name = shapes[i].name;
    p.is_bias_or_norm = shapes[i].bias_or_norm;
    Tensor v = Tensor::empty(shapes[i].shape, DType::f32, dev);
    uniform_(v, -0.1, 0.1, 1, 2 * i);
    p.value = v.to(dtype);
    p.grad = Tensor::empty(shapes[i].shape, DType::f32, dev);
    uniform_(p.grad, -0.01, 0.01, 1, 2 * i + 1);
  }
  std::vector<Parameter*> ptrs;
  for (Parameter& p : params) ptrs.push_back(&p);
  SgdOptions opt{SgdForm::caffe, /*nesterov=*/true, /*weight_decay=*/1e-4};
  opt.no_decay_bias_and_norm = true;
  Sgd sgd(ParameterArena::pack(ptrs), opt);
  // A tiny LR keeps the weights in range however many steps are timed.
  SgdStepScalars s = sgd.scalars(1e-6, 0.9);
  auto step = [&] { sgd_fused_step(sgd.plan(), s); };
  double seconds = dev.is_cuda() ? time_gpu(step, dev) : time_host(step);
  MINIDL_CHECK(sgd.step(1e-6, 0.9), "bench_sgd: the step was skipped (non-finite gradient?)");
  return seconds;
}

void bench_device(Device dev) {
  const bool gpu = dev.is_cuda();
  std::printf("\n== %s%s\n", dev.str().c_str(),
              gpu ? "" : (" (" + std::to_string(num_threads()) + " threads)").c_str());
  // The copy reference: 256 MiB (GPU) / 64 MiB (CPU), read + written.
  const size_t bytes = gpu ? (size_t(256) << 20) : (size_t(64) << 20);
  Tensor src = Tensor::zeros({static_cast<int64_t>(bytes)}, DType::u8, dev);
  Tensor dst = Tensor::zeros({static_cast<int64_t>(bytes)}, DType::u8, dev);
  double copy_gbs = 0;
  if (gpu) {
    double s = time_gpu([&] { copy_bytes(dst.data_ptr(), dev, src.data_ptr(), dev, bytes); }, dev);
    copy_gbs = 2.0 * bytes / s / 1e9;
    std::printf("  device-to-device copy              %8.1f GB/s\n", copy_gbs);
  } else {
    double s1 = time_host([&] { std::memcpy(dst.data_ptr(), src.data_ptr(), bytes); });
    double sn = time_host([&] { copy_bytes(dst.data_ptr(), dev, src.data_ptr(), dev, bytes); });
    copy_gbs = 2.0 * bytes / sn / 1e9;
    std::printf("  memcpy (1 thread)                  %8.1f GB/s\n", 2.0 * bytes / s1 / 1e9);
    std::printf("  memcpy (%d threads, copy_bytes)     %8.1f GB/s\n", num_threads(), copy_gbs);
  }
  // An in-place reference too: a copy's stores also read their destination lines on the CPU
  // (write-allocate), which an update in place does not pay for.
  const int64_t n = static_cast<int64_t>(bytes / 4);
  Tensor x = Tensor::zeros({n}, DType::f32, dev), y = Tensor::zeros({n}, DType::f32, dev);
  auto ax = [&] { axpy(0.5f, x, y); };
  double sa = gpu ? time_gpu(ax, dev) : time_host(ax);
  std::printf("  axpy (y += a x, in place)          %8.1f GB/s\n", 3.0 * bytes / sa / 1e9);
  struct Model {
    const char* name;
    std::vector<ParamShape> shapes;
  };
  const Model models[] = {{"resnet56", resnet56_shapes()}, {"resnet50", resnet50_shapes()}};
  std::printf(
      "  fused SGD step (caffe, Nesterov, wd 1e-4)   tensors   params      time"
      "   update GB/s   moved GB/s   moved/copy\n");
  for (const Model& m : models) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      int64_t n = total(m.shapes);
      double update_bytes = (dtype == DType::f32 ? 20.0 : 22.0) * n;
      double moved_bytes = update_bytes + 4.0 * n;
      double s = time_step(m.shapes, dtype, dev);
      std::printf(
          "  %-8s %-4s values                     %7zu %9lld %8.3f ms %10.1f %12.1f %10.0f%%\n",
          m.name, dtype_name(dtype), m.shapes.size(), static_cast<long long>(n), s * 1e3,
          update_bytes / s / 1e9, moved_bytes / s / 1e9, 100.0 * moved_bytes / s / 1e9 / copy_gbs);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool cpu = true, gpu = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cpu-only")) {
      gpu = false;
    } else if (!std::strcmp(argv[i], "--gpu-only")) {
      cpu = false;
    } else {
      std::fprintf(stderr, "minidl_bench_sgd: unknown flag '%s' (known: --cpu-only, --gpu-only)\n",
                   argv[i]);
      return 2;
    }
  }
  try {
    // The parameter sets must be the published models, or the figures mean nothing.
    auto r56 = resnet56_shapes(), r50 = resnet50_shapes();
    MINIDL_CHECK(total(r56) == 853018, "resnet56 has ", total(r56), " parameters, expected 853018");
    MINIDL_CHECK(total(r50) == 25557032, "resnet50 has ", total(r50),
                 " parameters, expected 25557032 (torchvision)");
    MINIDL_CHECK(r50.size() == 161, "resnet50 has ", r50.size(), " tensors, expected 161");
    std::printf(
        "minidl fused SGD benchmark (%s build, %d CUDA device(s)); resnet56 %lld params "
        "in %zu tensors, resnet50 %lld params in %zu tensors\n",
        MINIDL_WITH_CUDA ? "CUDA" : "CPU-only", cuda_device_count(),
        static_cast<long long>(total(r56)), r56.size(), static_cast<long long>(total(r50)),
        r50.size());
    std::printf("cpu isa: %s\n", cpu_isa_summary().c_str());
    if (cpu) bench_device(Device::cpu());
    if (gpu && cuda_device_count() > 0)
      bench_device(Device::cuda(0));
    else if (gpu)
      std::printf("\n(no CUDA device: GPU section skipped)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_bench_sgd: %s\n", e.what());
    return 1;
  }
  return 0;
}
