// `minidl_train predict`: logits of trained weights for a .npy batch of images.
//
//   minidl_train predict --weights runs/r20 --input images.npy --output logits.npy
//
//   minidl_train predict --model resnet50 --weights resnet50.safetensors --input x.npy -o y.npy
//
// The input is [N, C, H, W] (or [N, H, W] for one channel): u8 images are normalised as the run's
// training data was (so the data is read for its statistics); f32 input is used as it is (already
// normalised) and needs no dataset. Writes f32 logits [N, K], K the classes of the weights'
// classifier (or --num-classes).
#include <cstdio>

#include "core/npy.h"
#include "core/parallel.h"
#include "optim/evaluate.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"
#include "tools/train/weights_source.h"

namespace minidl::cli {

namespace {

struct PredictArgs {
  std::string weights, input, output;
  int64_t num_classes = 0;  // 0: from the weights
};

int run_predict(const SettingsFlags& flags, const PredictArgs& a) {
  WeightsSource w = read_weights(a.weights, flags);
  const Settings& s = w.settings;
  s.run.apply_compute();
  Tensor x = usage_guard([&] { return load_npy(a.input); });
  if (x.dim() == 3) x = x.reshape({x.size(0), 1, x.size(1), x.size(2)});
  if (x.dim() != 4)
    throw UsageError(a.input + ": expected images [N, C, H, W] or [N, H, W], got " +
                     shape_str(x.shape()));
  if (x.dtype() == DType::u8) {
    // Normalised as in training: the run's data has the statistics.
    Datasets data = load_datasets(s.data, s.run);
    Tensor f = Tensor::empty(x.shape(), DType::f32);
    const uint8_t* src = x.data<uint8_t>();
    float* dst = f.data<float>();
    int64_t C = x.size(1), HW = x.size(2) * x.size(3);
    if (static_cast<int64_t>(data.stats.mean.size()) != C)
      throw UsageError(a.input + ": " + std::to_string(C) + " channels, the model was trained on " +
                       std::to_string(data.stats.mean.size()));
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t c = (i / HW) % C;
      dst[i] = (src[i] / 255.0f - data.stats.mean[c]) / data.stats.std[c];
    }
    x = f;
  } else {
    x = x.to(DType::f32);
  }
  const Shape sample = {x.size(1), x.size(2), x.size(3)};
  const int64_t classes = a.num_classes > 0 ? a.num_classes : classes_in_weights(w, sample);
  std::shared_ptr<Module> net = build_model(w, sample, classes);
  Tensor logits = predict(*net, x, s.data.batch_size, s.run.parsed_device());
  save_npy(a.output, logits);
  std::printf("wrote %s: logits [%lld, %lld] for %s\n", a.output.c_str(),
              static_cast<long long>(logits.size(0)), static_cast<long long>(logits.size(1)),
              a.input.c_str());
  return kOk;
}

}  // namespace

void add_predict_verb(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PredictArgs>();
  std::shared_ptr<SettingsFlags> flags;
  CLI::App* verb =
      add_weights_verb(app, "predict", "Logits of trained weights for a .npy batch of images",
                       flags, a->weights, a->num_classes);
  verb->add_option("--input,-i", a->input,
                   "Images .npy: u8 (normalised as in training) or f32 (as is)")
      ->required();
  verb->add_option("--output,-o", a->output, "Logits .npy to write")->required();
  verb->callback([flags, a, &exit_code] { exit_code = run_predict(*flags, *a); });
}

}  // namespace minidl::cli
