// What `eval` and `predict` share: the settings keys they accept and where the weights and the
// run's settings come from (--weights: a run directory, a checkpoint folder or a .safetensors
// file).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "layers/module.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

extern const std::vector<std::string> kWeightsKeys;

// The weights and the settings to rebuild their model: a run's (or checkpoint's) recorded config,
// else the defaults; flags override either.
struct WeightsSource {
  Settings settings;
  TensorMap weights;
  std::string described;  // the file or checkpoint folder the weights came from
};
WeightsSource read_weights(const std::string& path, const SettingsFlags& flags);

// Adds a verb that reads trained weights: its settings flags (kWeightsKeys), --weights and
// --num-classes (0: from the weights).
CLI::App* add_weights_verb(CLI::App& app, const char* name, const char* description,
                           std::shared_ptr<SettingsFlags>& flags, std::string& weights,
                           int64_t& num_classes);

// The class count the weights' classifier was trained for: the settings' model is made for 2 and
// for 3 classes, and the tensors whose shape differs between the two are the classifier's; their
// first dimension in the weights is the count. So a torchvision checkpoint needs no dataset of
// 1000 class folders to say it has 1000 classes. Throws a UsageError naming the tensor when the
// weights lack it or it has another shape.
int64_t classes_in_weights(const WeightsSource& w, const Shape& sample_shape);

// The settings' model for `sample_shape` [C, H, W] and `classes`, holding the weights, in eval
// mode.
std::shared_ptr<Module> build_model(const WeightsSource& w, const Shape& sample_shape,
                                    int64_t classes);

}  // namespace minidl::cli
