// Building an experiment from its typed settings: datasets, loaders, the model.
#include "tools/train/experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/context.h"
#include "core/safetensors.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/synthetic.h"
#include "kernels/precision.h"
#include "layers/init.h"
#include "optim/checkpoint.h"
#include "tools/train/cli.h"

namespace minidl::cli {

Datasets load_datasets(const DataSettings& s, const RunSettings& run) {
  const std::string& name = s.dataset;
  const std::string& dir = s.data_dir;
  Datasets d;
  usage_guard([&] {
    if (name == "fashion-mnist") {
      std::string where = dir.empty() ? kFashionMnistDir : dir;
      d.train = load_mnist_folder(where, Split::train, "fashion-mnist");
      d.test = load_mnist_folder(where, Split::test, "fashion-mnist");
    } else if (name == "mnist") {
      MINIDL_CHECK(!dir.empty(),
                   "dataset mnist needs --data-dir (a folder with the four IDX files)");
      d.train = load_mnist_folder(dir, Split::train, "mnist");
      d.test = load_mnist_folder(dir, Split::test, "mnist");
    } else if (name == "cifar10" || name == "cifar100") {
      MINIDL_CHECK(!dir.empty(), "dataset ", name,
                   " needs --data-dir (the extracted binary version)");
      auto load = name == "cifar10" ? load_cifar10 : load_cifar100;
      d.train = load(dir, Split::train, {});
      d.test = load(dir, Split::test, {});
    } else if (name == "imagefolder") {
      MINIDL_CHECK(!dir.empty(),
                   "dataset imagefolder needs --data-dir with train/ and val/ folders");
      auto train = std::make_shared<ImageFolderDataset>(dir + "/train");
      auto test = std::make_shared<ImageFolderDataset>(dir + "/val");
      // A corrupt file otherwise ends the run when a batch first meets it, epochs in; this
      // finds every one before the run directory is touched (both sets: eval reads val/).
      if (s.verify_images)
        for (const ImageFolderDataset* set : {train.get(), test.get()}) verify_images(*set);
      d.train = train;
      d.test = test;
    } else if (name == "synthetic") {
      const Shape shape = parse_image_shape(s.synthetic_shape, "setting 'synthetic_shape'");
      d.train = materialize(
          SyntheticDataset(s.synthetic_images, shape, s.synthetic_classes, 1, "synthetic/train"));
      d.test = materialize(SyntheticDataset(std::max<int64_t>(1, s.synthetic_images / 4), shape,
                                            s.synthetic_classes, 2, "synthetic/test"));
    } else {
      MINIDL_FAIL("unknown dataset '", name,
                  "'; known: fashion-mnist, mnist, cifar10, cifar100, imagefolder, synthetic");
    }
  });
  if (d.train->size() == 0 || d.test->size() == 0)
    throw UsageError("dataset " + name + (dir.empty() ? "" : " in " + dir) + ": the " +
                     (d.train->size() == 0 ? "training" : "test") + " set is empty");
  int64_t holdout = s.val_split;
  if (holdout < 0 || holdout >= d.train->size())
    throw UsageError("val_split must be in [0, " + std::to_string(d.train->size()) + "), got " +
                     std::to_string(holdout));
  if (holdout > 0) {
    SplitDatasets split = split_dataset(d.train, holdout, static_cast<uint64_t>(run.seed));
    d.train = split.train;
    d.val = split.val;
  }
  const nlohmann::json& norm = s.normalize;
  if (!norm["mean"].empty()) {
    d.stats.mean = norm["mean"].get<std::vector<float>>();
    d.stats.std = norm["std"].get<std::vector<float>>();
    int64_t c = d.train->image_shape()[0];
    if (static_cast<int64_t>(d.stats.mean.size()) != c || d.stats.std.size() != d.stats.mean.size())
      throw UsageError("normalize: mean and std need " + std::to_string(c) + " values each");
  } else if (name == "imagefolder") {
    d.stats = {{0.485f, 0.456f, 0.406f},
               {0.229f, 0.224f, 0.225f}};  // ImageNet's, as torchvision uses
  } else {
    d.stats = cached_channel_stats(*d.train);
  }
  return d;
}

static Transform train_transform(const DataSettings& s, const Shape& shape,
                                 const ChannelStats& stats) {
  std::string aug = s.augment;
  int64_t h = shape[1], w = shape[2];
  if (aug == "auto")
    aug = (s.dataset == "cifar10" || s.dataset == "cifar100") ? "crop-flip" : "none";
  int64_t pad = s.crop_pad;
  if (pad == 0) pad = h >= 32 ? 4 : 2;
  Transform t;
  if (aug == "crop" || aug == "crop-flip") t.pad_random_crop(h, w, pad);
  if (aug == "flip" || aug == "crop-flip") t.random_flip();
  if (aug != "none" && aug != "flip" && aug != "crop" && aug != "crop-flip")
    throw UsageError("unknown augment '" + aug + "'; known: auto, none, flip, crop, crop-flip");
  return t.normalize(stats);
}

static LoaderOptions loader_options(const DataSettings& s, const RunSettings& run, bool shuffle,
                                    Shard shard) {
  LoaderOptions o;
  o.rank = shard.rank;
  o.world_size = shard.world;
  o.shard_mode = shuffle ? ShardMode::pad : ShardMode::split;
  o.batch_size = s.batch_size;
  o.shuffle = shuffle;
  o.seed = static_cast<uint64_t>(run.seed);
  o.workers = static_cast<int>(s.workers);
  o.device = run.parsed_device();
  o.memory_format = run.parsed_memory_format();
  return o;
}

// The training transform: random-resized crops for ImageFolder, the augment setting otherwise.
static Transform train_transform(const DataSettings& s, const Datasets& d) {
  Shape shape = d.train->image_shape();
  if (shape[1] < 0) shape = {shape[0], 224, 224};
  return s.dataset == "imagefolder"
             ? Transform().random_resized_crop(224, 224).random_flip().normalize(d.stats)
             : train_transform(s, shape, d.stats);
}

Shape train_sample_shape(const DataSettings& s, const Datasets& d) {
  return train_transform(s, d).output_shape(d.train->image_shape());
}

std::unique_ptr<Loader> make_train_loader(const DataSettings& s, const RunSettings& run,
                                          const Datasets& d, Shard shard) {
  return std::make_unique<Loader>(d.train, train_transform(s, d),
                                  loader_options(s, run, true, shard));
}

std::unique_ptr<Loader> make_eval_loader(const DataSettings& s, const RunSettings& run,
                                         std::shared_ptr<const Dataset> ds,
                                         const ChannelStats& stats, Shard shard) {
  Transform t = s.dataset == "imagefolder"
                    ? Transform().resize(256).center_crop(224, 224).normalize(stats)
                    : Transform().normalize(stats);
  return std::make_unique<Loader>(ds, t, loader_options(s, run, false, shard));
}

ModelArgs experiment_model_args(const ModelSettings& s, const Shape& sample_shape,
                                int64_t classes) {
  ModelArgs args;
  args.in_channels = sample_shape[0];
  args.image_size = sample_shape[1];
  args.num_classes = classes;
  for (auto& [k, v] : s.model_options.items())
    args.options[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return args;
}

std::shared_ptr<Module> make_experiment_model(const ModelSettings& s, const RunSettings& run,
                                              const Shape& sample_shape, int64_t classes) {
  const ModelArgs args = experiment_model_args(s, sample_shape, classes);
  manual_seed(static_cast<uint64_t>(run.seed));  // layers' default init and dropout seeds
  std::shared_ptr<Module> net = usage_guard([&] { return make_model(s.model, args); });
  if (s.init != "default") {
    usage_guard([&] { check_init_scheme(s.init); });
    init_weights(*net, s.init, static_cast<uint64_t>(run.seed));
  }
  if (!s.init_from.empty()) {
    const std::string& from = s.init_from;
    TensorMap weights = usage_guard([&] {
      return std::filesystem::is_directory(from) ? load_checkpoint(from).model
                                                 : load_safetensors(from);
    });
    usage_guard([&] { net->load_state_dict(weights); });
  }
  net->set_compute_precision(parse_precision(run.precision));
  net->set_memory_format(run.parsed_memory_format());
  net->to(run.parsed_device());
  return net;
}

}  // namespace minidl::cli
