// `minidl_train eval` and `minidl_train predict`: a trained model on a dataset, or on a .npy batch.
//
//   minidl_train eval --weights runs/r20                  # a run: its settings and newest
//   checkpoint minidl_train eval --weights runs/r20/checkpoints/iter_000004690 --split val
//   minidl_train eval --weights w.safetensors --model resnet20 --dataset fashion-mnist
//   minidl_train predict --weights runs/r20 --input images.npy --output logits.npy
//
// predict reads [N, C, H, W] (or [N, H, W] for one channel): u8 images are normalised as the run's
// training data was; f32 input is used as it is (already normalised). It writes f32 logits [N, K].
#include <cstdio>
#include <filesystem>

#include "core/npy.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "kernels/reduce.h"
#include "optim/checkpoint.h"
#include "optim/solver.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kKeys = {"model",     "model_options", "dataset", "data_dir",
                                        "val_split", "batch_size",    "seed",    "device",
                                        "workers",   "threads"};

// Settings and weights from --weights: a run directory, a checkpoint folder or a .safetensors file.
struct WeightsSource {
  nlohmann::json settings;
  TensorMap weights;
  std::string described;
};

WeightsSource read_weights(const std::string& path, const SettingsFlags& flags) {
  WeightsSource w;
  nlohmann::json base = default_settings();
  if (fs::is_directory(path)) {
    Checkpoint c = usage_guard([&] { return load_checkpoint(path); });
    if (c.state.contains("config") && c.state["config"].is_object())
      base = merge_settings(base, c.state["config"], path + " (checkpoint config)");
    w.weights = std::move(c.model);
    w.described = fs::exists(path + "/state.json") ? path : latest_checkpoint(path);
  } else {
    w.weights = usage_guard([&] { return load_safetensors(path); });
    w.described = path;
  }
  w.settings = resolve_settings(flags, base);  // flags may still override (device, batch size, ...)
  return w;
}

std::shared_ptr<Module> build_model(const WeightsSource& w, const Shape& sample_shape,
                                    int64_t classes) {
  nlohmann::json s = w.settings;
  s["init"] = "default";  // the weights replace it anyway
  std::shared_ptr<Module> net = make_experiment_model(s, sample_shape, classes);
  usage_guard([&] { net->load_state_dict(w.weights); });
  net->eval();
  return net;
}

struct EvalArgs {
  std::string weights, split = "test";
};

int run_eval(const SettingsFlags& flags, const EvalArgs& a) {
  WeightsSource w = read_weights(a.weights, flags);
  const nlohmann::json& s = w.settings;
  if (s["threads"].get<int>() > 0) set_num_threads(s["threads"]);
  Datasets data = load_datasets(s);
  std::shared_ptr<const Dataset> ds = a.split == "test"  ? data.test
                                      : a.split == "val" ? data.val
                                                         : data.train;
  if (a.split != "test" && a.split != "val" && a.split != "train")
    throw UsageError("--split: unknown split '" + a.split + "'; known: test, val, train");
  if (!ds) throw UsageError("--split val: the run has no validation split (val_split is 0)");
  std::unique_ptr<Loader> loader = make_eval_loader(s, ds, data.stats);
  std::shared_ptr<Module> net = build_model(w, loader->sample_shape(), data.train->num_classes());
  // The Solver's evaluation, without training anything.
  SgdOptions so;
  Sgd opt(net->parameters(), so);
  SoftmaxCrossEntropy loss;
  auto fixed = parse_schedule("0", ScheduleRole::lr);
  SolverOptions o;
  o.max_iter = 1;
  o.progress = false;
  Solver solver(*net, loss, opt, *fixed, *fixed, *loader, nullptr, o);
  EvalResult r = solver.evaluate(*loader);
  std::printf("%s on %s (%lld images): loss %.4f, top-1 %.2f%%, top-5 %.2f%%\n",
              w.described.c_str(), ds->name().c_str(), static_cast<long long>(r.samples), r.loss,
              100 * r.top1, 100 * r.top5);
  return kOk;
}

struct PredictArgs {
  std::string weights, input, output;
};

int run_predict(const SettingsFlags& flags, const PredictArgs& a) {
  WeightsSource w = read_weights(a.weights, flags);
  const nlohmann::json& s = w.settings;
  if (s["threads"].get<int>() > 0) set_num_threads(s["threads"]);
  Tensor x = usage_guard([&] { return load_npy(a.input); });
  if (x.dim() == 3) x = x.reshape({x.size(0), 1, x.size(1), x.size(2)});
  if (x.dim() != 4)
    throw UsageError(a.input + ": expected images [N, C, H, W] or [N, H, W], got " +
                     shape_str(x.shape()));
  // Normalisation and class count come from the run's data (its recorded statistics).
  Datasets data = load_datasets(s);
  if (x.dtype() == DType::u8) {
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
  std::shared_ptr<Module> net =
      build_model(w, {x.size(1), x.size(2), x.size(3)}, data.train->num_classes());
  Device dev = settings_device(s);
  int64_t n = x.size(0), bs = s["batch_size"];
  Tensor logits;
  for (int64_t b = 0; b < n; b += bs) {
    Tensor y =
        net->forward(x.narrow(0, b, std::min(bs, n - b)).contiguous().to(dev)).to(Device::cpu());
    if (!logits.defined()) logits = Tensor::empty({n, y.size(1)}, DType::f32);
    logits.narrow(0, b, y.size(0)).copy_(y);
  }
  save_npy(a.output, logits);
  std::printf("wrote %s: logits [%lld, %lld] for %s\n", a.output.c_str(), static_cast<long long>(n),
              static_cast<long long>(logits.size(1)), a.input.c_str());
  return kOk;
}

}  // namespace

void add_eval_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb =
      app.add_subcommand("eval", "Loss, top-1 and top-5 of trained weights on a dataset");
  auto flags = add_settings_flags(verb, kKeys);
  auto a = std::make_shared<EvalArgs>();
  verb->add_option("--weights,-w", a->weights,
                   "A run directory, a checkpoint folder or a .safetensors file")
      ->required();
  verb->add_option("--split", a->split, "test, val or train")->capture_default_str();
  verb->callback([flags, a, &exit_code] { exit_code = run_eval(*flags, *a); });
}

void add_predict_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb =
      app.add_subcommand("predict", "Logits of trained weights for a .npy batch of images");
  auto flags = add_settings_flags(verb, kKeys);
  auto a = std::make_shared<PredictArgs>();
  verb->add_option("--weights,-w", a->weights,
                   "A run directory, a checkpoint folder or a .safetensors file")
      ->required();
  verb->add_option("--input,-i", a->input,
                   "Images .npy: u8 (normalised as in training) or f32 (as is)")
      ->required();
  verb->add_option("--output,-o", a->output, "Logits .npy to write")->required();
  verb->callback([flags, a, &exit_code] { exit_code = run_predict(*flags, *a); });
}

}  // namespace minidl::cli
