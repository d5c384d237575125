// What a training verb needs, resolved from defaults, a config file (YAML or JSON) and flags, in
// that order of precedence (flags win). The resolved settings are one JSON object: it is printed,
// written to RUN/config.json and stored in every checkpoint, so every run can be repeated exactly.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "data/loader.h"
#include "layers/module.h"
#include "models/registry.h"
#include "optim/schedule.h"
#include "tools/train/cli.h"

namespace minidl::cli {

// Every setting with its default; the keys a config file and the flags may use.
nlohmann::json default_settings();

// Reads a YAML (.yaml/.yml) or JSON (.json) config file into a JSON object; a UsageError names the
// file and what is wrong.
nlohmann::json read_config_file(const std::string& path);

// settings = defaults <- config <- flags: unknown keys and wrongly typed values are UsageErrors
// naming the key (and listing the known keys).
nlohmann::json merge_settings(nlohmann::json base, const nlohmann::json& overrides,
                              const std::string& source);

// The datasets of an experiment: train (after the validation hold-out), optional val, test.
struct Datasets {
  std::shared_ptr<const Dataset> train, val, test;
  ChannelStats stats;  // from the training set, for normalisation
};
Datasets load_datasets(const nlohmann::json& s);

// Loaders with the experiment's batch size, augmentation, seed, workers and device.
std::unique_ptr<Loader> make_train_loader(const nlohmann::json& s, const Datasets& d);
std::unique_ptr<Loader> make_eval_loader(const nlohmann::json& s, std::shared_ptr<const Dataset> ds,
                                         const ChannelStats& stats);

// The model for images of `sample_shape` [C, H, W] and `classes` classes, initialised per settings
// ("init": a scheme name, or "default" for the model's own), moved to the device.
std::shared_ptr<Module> make_experiment_model(const nlohmann::json& s, const Shape& sample_shape,
                                              int64_t classes);

// A schedule spec whose numbers may be written in epochs or as a share of training:
// "ss=41ep" -> 41 * iters_per_epoch iterations, "ss=45%" -> 45% of total_iters (rounded).
std::string expand_schedule_units(const std::string& spec, int64_t iters_per_epoch,
                                  int64_t total_iters);

Device settings_device(const nlohmann::json& s);

}  // namespace minidl::cli
