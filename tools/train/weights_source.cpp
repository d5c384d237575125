#include "tools/train/weights_source.h"

#include <filesystem>

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
                           std::shared_ptr<SettingsFlags>& flags, std::string& weights) {
  CLI::App* verb = app.add_subcommand(name, description);
  flags = add_settings_flags(verb, kWeightsKeys);
  verb->add_option("--weights,-w", weights,
                   "A run directory, a checkpoint folder or a .safetensors file")
      ->required();
  return verb;
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
