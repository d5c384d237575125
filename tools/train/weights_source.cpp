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

}  // namespace minidl::cli
