// What a training verb builds from its typed settings (tools/train/settings.h): the datasets, the
// loaders (batch size, augmentation, seed, workers, device) and the initialised model.
#pragma once

#include <memory>

#include "data/loader.h"
#include "layers/module.h"
#include "models/registry.h"
#include "tools/train/settings.h"

namespace minidl::cli {

// The datasets of an experiment: train (after the validation hold-out), optional val, test.
struct Datasets {
  std::shared_ptr<const Dataset> train, val, test;
  ChannelStats stats;  // the recorded `normalize`, else computed from the training set
};
Datasets load_datasets(const DataSettings& s, const RunSettings& run);

// [C, H, W] of one transformed training sample (what make_train_loader's batches hold).
Shape train_sample_shape(const DataSettings& s, const Datasets& d);

// This process's part of a data-parallel run: the training loader gives each rank batch_size
// samples of every global batch (ShardMode::pad: equal counts, so every rank takes the same
// steps), the evaluation loader each test sample to exactly one rank (ShardMode::split).
struct Shard {
  int rank = 0, world = 1;
};
std::unique_ptr<Loader> make_train_loader(const DataSettings& s, const RunSettings& run,
                                          const Datasets& d, Shard shard = {});
std::unique_ptr<Loader> make_eval_loader(const DataSettings& s, const RunSettings& run,
                                         std::shared_ptr<const Dataset> ds,
                                         const ChannelStats& stats, Shard shard = {});

// The registry's arguments for the settings' model, images of `sample_shape` [C, H, W] and
// `classes` classes (model_options as strings).
ModelArgs experiment_model_args(const ModelSettings& s, const Shape& sample_shape, int64_t classes);

// The model for images of `sample_shape` [C, H, W] and `classes` classes, initialised per
// `s.init` ("default": the model's own), seeded by run.seed, moved to run.device.
std::shared_ptr<Module> make_experiment_model(const ModelSettings& s, const RunSettings& run,
                                              const Shape& sample_shape, int64_t classes);

}  // namespace minidl::cli
