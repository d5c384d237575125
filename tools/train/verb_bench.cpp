// `minidl_train bench`: training speed of a model on synthetic data, with the time split into
// forward, backward and the optimiser step (as `caffe time`).
//
//   minidl_train bench --model resnet20 --batch-size 128 --input-shape 1x28x28 --iterations 20
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/context.h"
#include "core/cpu_isa.h"
#include "core/parallel.h"
#include "core/text.h"
#include "kernels/conv.h"
#include "kernels/random.h"
#include "layers/loss.h"
#include "models/registry.h"
#include "optim/sgd.h"
#include "tools/train/experiment.h"
#include "tools/train/memory_check.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

namespace {

struct BenchArgs {
  std::string shape = "1x28x28";
  int64_t iterations = 20, warmup = 3, classes = 10;
};


int run_bench(const SettingsFlags& flags, const BenchArgs& a) {
  Settings s = resolve_settings(flags, Settings());
  s.validate();
  s.run.apply_compute();
  Shape shape = parse_image_shape(a.shape, "--input-shape");
  const int64_t batch = s.data.batch_size;
  Device dev = s.run.parsed_device();
  check_step_fits(s, shape, a.classes, batch);
  std::shared_ptr<Module> net = make_experiment_model(s.model, s.run, shape, a.classes);
  Sgd opt(*net, s.optim.sgd());
  SoftmaxCrossEntropy loss;
  Tensor x = Tensor::empty({batch, shape[0], shape[1], shape[2]}, DType::f32, dev);
  normal_(x, 0.f, 1.f, 7, 0);
  x = x.contiguous(s.run.parsed_memory_format());  // as the loader would hand it out
  std::vector<int64_t> lab(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) lab[static_cast<size_t>(i)] = i % a.classes;
  Tensor labels = Tensor::from_vector(lab, {batch}).to(dev);

  using Clock = std::chrono::steady_clock;
  auto secs = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  std::vector<double> fwd, bwd, step;
  net->train();
  for (int64_t it = 0; it < a.warmup + a.iterations; ++it) {
    net->zero_grad();
    auto t0 = Clock::now();
    Tensor l = loss.forward(net->forward(x), labels);
    synchronize(dev);
    double f = secs(t0);
    t0 = Clock::now();
    net->backward(loss.backward());
    synchronize(dev);
    double b = secs(t0);
    t0 = Clock::now();
    opt.step(0.01, 0.9);
    synchronize(dev);
    double st = secs(t0);
    if (it >= a.warmup) fwd.push_back(f), bwd.push_back(b), step.push_back(st);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double mf = median(fwd), mb = median(bwd), ms = median(step), total = mf + mb + ms;
  std::printf("%s, input %s, batch %lld, %s (%d threads), %s, %lld parameters\n",
              s.model.model.c_str(), a.shape.c_str(), static_cast<long long>(batch),
              dev.str().c_str(), num_threads(), s.run.memory_format.c_str(),
              static_cast<long long>(net->parameter_count()));
  std::printf("cpu isa: %s\n", cpu_isa_summary().c_str());
  if (!dev.is_cuda()) std::printf("cpu convolutions: %s\n", cpu_conv_name(cpu_conv()));
  std::printf("fusion: BatchNorm2d + ReLU %s (MINIDL_FUSE=on|off)\n", fusion_enabled() ? "on" : "off");
  std::printf(
      "  forward  %8.2f ms  (%4.1f%%)\n  backward %8.2f ms  (%4.1f%%)\n  step     %8.2f ms  "
      "(%4.1f%%)\n",
      1e3 * mf, 100 * mf / total, 1e3 * mb, 100 * mb / total, 1e3 * ms, 100 * ms / total);
  std::printf("  total    %8.2f ms per iteration: %.0f img/s (median of %lld)\n", 1e3 * total,
              batch / total, static_cast<long long>(a.iterations));
  return kOk;
}

}  // namespace

void add_bench_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb = app.add_subcommand(
      "bench", "Training img/s of a model on synthetic data, forward/backward/step split");
  auto flags =
      add_settings_flags(verb, {"model", "model_options", "batch_size", "sgd_form", "nesterov",
                                "weight_decay", "init", "seed", "device", "threads"});
  auto a = std::make_shared<BenchArgs>();
  verb->add_option("--input-shape", a->shape, "CxHxW of the synthetic images")
      ->capture_default_str();
  verb->add_option("--iterations,-n", a->iterations, "Timed iterations")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--warmup", a->warmup, "Untimed iterations first")->capture_default_str();
  verb->add_option("--classes", a->classes, "Number of classes")
      ->check(positive_integer())
      ->capture_default_str();
  verb->callback([flags, a, &exit_code] { exit_code = run_bench(*flags, *a); });
}

}  // namespace minidl::cli
