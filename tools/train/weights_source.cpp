#include "tools/train/weights_source.h"

#include <filesystem>

#include "models/registry.h"
#include "optim/checkpoint.h"
#include "tools/train/experiment.h"

namespace minidl::cli {

namespace fs = std::filesystem;

const std::vector<std::string> kWeightsKeys = {"model",     "model_options", "dataset", "data_dir",
                                               "val_split", "batch_size",    "seed",    "device",
                                               "workers",   "threads"};

WeightsSource read_weights(const std::string& path, const SettingsFlags& flags) {
  WeightsSource w;
  Settings base;
  if (fs::is_directory(path)) {
    Checkpoint c = usage_guard([&] { return load_checkpoint(path); });
    if (c.state.contains("config") && c.state["config"].is_object())
      base.merge(c.state["config"], path + " (checkpoint config)");
    w.weights = std::move(c.model);
    w.described = fs::exists(path + "/state.json") ? path : latest_checkpoint(path);
  } else {
    w.weights = usage_guard([&] { return load_safetensors(path); });
    w.described = path;
  }
  w.settings = resolve_settings(flags, base);  // flags may still override (device, batch size, ...)
  w.settings.validate();
  return w;
}

CLI::App* add_weights_verb(CLI::App& app, const char* name, const char* description,
                           std::shared_ptr<SettingsFlags>& flags, std::string& weights,
                           int64_t& num_classes) {
  CLI::App* verb = app.add_subcommand(name, description);
  flags = add_settings_flags(verb, kWeightsKeys);
  verb->add_option("--weights,-w", weights,
                   "A run directory, a checkpoint folder or a .safetensors file")
      ->required();
  verb->add_option("--num-classes", num_classes,
                   "Classes of the weights' classifier (0: read from the weights)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  return verb;
}

int64_t classes_in_weights(const WeightsSource& w, const Shape& sample_shape) {
  const ModelSettings& m = w.settings.model;
  auto shapes = [&](int64_t classes) {
    const ModelArgs args = experiment_model_args(m, sample_shape, classes);
    std::map<std::string, Shape> out;
    for (auto& [name, t] : usage_guard([&] { return make_model(m.model, args); })->state_dict())
      out[name] = t.shape();
    return out;
  };
  const std::map<std::string, Shape> two = shapes(2), three = shapes(3);
  int64_t classes = 0;
  for (const auto& [name, shape] : two) {  // every classifier tensor (weight, bias) must agree
    if (three.at(name) == shape) continue;
    auto it = w.weights.find(name);
    if (it == w.weights.end())
      throw UsageError(w.described + ": no tensor '" + name + "', the classifier of " + m.model);
    const Shape& got = it->second.shape();
    Shape expected = shape;
    if (!got.empty()) expected[0] = got[0];
    if (got.empty() || got != expected || got[0] < 1 || (classes && got[0] != classes)) {
      std::string rest;
      for (size_t d = 1; d < shape.size(); ++d) rest += ", " + std::to_string(shape[d]);
      throw UsageError(w.described + ": '" + name + "' is " + shape_str(got) + ", not the " +
                       m.model + " classifier's [classes" + rest + "]");
    }
    classes = got[0];
  }
  if (classes > 0) return classes;
  throw UsageError(m.model +
                   ": no tensor depends on the class count, so the weights cannot say it");
}

std::shared_ptr<Module> build_model(const WeightsSource& w, const Shape& sample_shape,
                                    int64_t classes) {
  ModelSettings m = w.settings.model;
  m.init = "default";  // the weights replace it anyway
  std::shared_ptr<Module> net = make_experiment_model(m, w.settings.run, sample_shape, classes);
  usage_guard([&] { net->load_state_dict(w.weights); });
  net->eval();
  return net;
}

}  // namespace minidl::cli
