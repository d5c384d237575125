#include "tools/train/memory_check.h"

#include <algorithm>
#include <cstdio>

#include "core/memory_info.h"
#include "layers/loss.h"
#include "optim/sgd.h"
#include "tools/train/cli.h"
#include "tools/train/experiment.h"

namespace minidl::cli {

namespace {

std::string bytes_str(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

}  // namespace

StepMemory measure_step_memory(const Settings& s, const Shape& sample, int64_t classes) {
  const Device device = s.run.parsed_device();
  const size_t before = memory_stats(device).allocated;
  std::shared_ptr<Module> net = make_experiment_model(s.model, s.run, sample, classes);
  Sgd opt(*net, s.optim.sgd());
  SoftmaxCrossEntropy loss;
  auto step_bytes = [&](int64_t images) {
    Shape shape{images};
    shape.insert(shape.end(), sample.begin(), sample.end());
    Tensor x = Tensor::zeros(shape, DType::f32, device);
    Tensor labels = Tensor::zeros({images}, DType::i64, device);
    const size_t base = memory_stats(device).allocated - x.nbytes() - labels.nbytes();
    reset_peak_memory(device);
    net->zero_grad();
    loss.forward(net->forward(x), labels);
    net->backward(loss.backward());
    opt.step(0.0, 0.0);
    return static_cast<double>(memory_stats(device).peak_allocated - base);
  };
  step_bytes(2);  // the first step allocates the optimiser's state and any workspace for good
  // weights, gradients, optimiser state: what the model holds between steps
  const double model = static_cast<double>(memory_stats(device).allocated - before);
  const double two = step_bytes(2), four = step_bytes(4);
  StepMemory m;
  m.per_image_bytes = std::max(0.0, (four - two) / 2);
  m.fixed_bytes = model + std::max(0.0, two - 2 * m.per_image_bytes);
  return m;
}

void check_step_fits(const Settings& s, const Shape& sample, int64_t classes, int64_t images,
                     double extra_bytes) {
  const Device device = s.run.parsed_device();
  const double available = static_cast<double>(available_memory(device));
  if (available <= 0) return;
  StepMemory m = measure_step_memory(s, sample, classes);
  const double need = m.estimate(images) + extra_bytes;
  if (need <= available) return;
  throw UsageError(
      "batch_size " + std::to_string(s.data.batch_size) + " (" + std::to_string(images) +
      " images per step here) needs about " + bytes_str(need) + " for one training step (" +
      bytes_str(m.per_image_bytes) + " per image and " + bytes_str(m.fixed_bytes) +
      " for the model, measured on steps of 2 and 4 images" +
      (extra_bytes > 0 ? ", and " + bytes_str(extra_bytes) + " of loader batches" : "") + "); " +
      device.str() + " has " + bytes_str(available) + " available: use a smaller --batch-size");
}

void check_training_step_fits(const Settings& s, const Shape& sample, int64_t classes,
                              int64_t train_images) {
  const int64_t images = std::min(s.data.batch_size, std::max<int64_t>(train_images, 1));
  const double batch_bytes = static_cast<double>(images) *
                             (static_cast<double>(shape_numel(sample)) * 4 + 8);  // f32 + label
  const double in_flight = LoaderOptions().prefetch + static_cast<double>(s.data.workers) + 1;
  check_step_fits(s, sample, classes, images,
                  s.run.parsed_device().is_cpu() ? in_flight * batch_bytes : 0);
}

}  // namespace minidl::cli
