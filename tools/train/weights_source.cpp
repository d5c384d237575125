#include "tools/train/weights_source.h"

#include <filesystem>

#include "optim/checkpoint.h"
#include "tools/train/experiment.h"

namespace minidl::cli {

namespace fs = std::filesystem;

const std::vector<std::string> kWeightsKeys = {"model",     "model_options", "dataset", "data_dir",
                                               "val_split", "batch_size",    "seed",    "device",
                                               "workers",   "threads"};

void validate_weights_settings(const Settings& s) {
  s.model.validate();
  s.data.validate();
  s.run.validate();
}

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
  validate_weights_settings(w.settings);
  return w;
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
