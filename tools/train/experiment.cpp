#include "tools/train/experiment.h"

#include <cmath>
#include <filesystem>

#include "core/context.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "core/text.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/synthetic.h"
#include "layers/init.h"

#if MINIDL_WITH_YAML
#include <yaml-cpp/yaml.h>
#endif

namespace minidl::cli {

nlohmann::json default_settings() {
  return {
      {"model", "resnet20"},
      {"model_options", nlohmann::json::object()},
      {"dataset", "fashion-mnist"},
      {"data_dir", ""},  // "" = the dataset's default location
      {"val_split", 0},  // training images held out for validation
      {"batch_size", 128},
      {"epochs", 10},
      {"iterations", 0},  // > 0 overrides epochs
      {"lr", "onecycle-smith:base=0.08,max=0.8,ss=45%"},
      {"momentum", "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%"},
      {"weight_decay", 5e-4},
      {"sgd_form", "caffe"},
      {"nesterov", true},
      {"decoupled_decay", false},
      {"no_decay_bias_norm", false},
      {"label_smoothing", 0.0},
      {"init", "msra"},
      {"seed", 1},
      {"augment", "auto"},  // auto | none | flip | crop | crop-flip
      {"crop_pad", 0},      // 0 = auto: 4 for 32x32 images, 2 for 28x28
      {"eval_every", 0},
      {"eval_batches", -1},
      {"log_every", 50},
      {"checkpoint_every", 0},
      {"keep_checkpoints", 3},
      {"out", "runs/train"},
      {"device", "cpu"},
      {"workers", 2},
      {"threads", 0},  // 0 = all hardware threads
      // Per-channel mean/std of the training images in [0, 1]; empty: computed from the training
      // set (and then recorded here in RUN/config.json, so eval and predict normalise the same
      // way).
      {"normalize", {{"mean", nlohmann::json::array()}, {"std", nlohmann::json::array()}}},
  };
}

#if MINIDL_WITH_YAML
static nlohmann::json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it)
        j[it->first.as<std::string>()] = yaml_to_json(it->second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& e : n) j.push_back(yaml_to_json(e));
      return j;
    }
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      if (s == "true" || s == "false") return s == "true";
      int64_t i = 0;
      double d = 0;
      if (parse_int(s, i)) return i;
      if (parse_number(s, d)) return d;
      return s;
    }
    default:
      return nullptr;
  }
}
#endif

nlohmann::json read_config_file(const std::string& path) {
  std::vector<uint8_t> bytes = usage_guard([&] { return read_file(path); });
  std::string text(bytes.begin(), bytes.end());
  nlohmann::json j;
  bool json = path.size() >= 5 && path.substr(path.size() - 5) == ".json";
  if (json) {
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(path + ": malformed JSON: " + e.what());
    }
  } else {
#if MINIDL_WITH_YAML
    try {
      j = yaml_to_json(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      throw UsageError(path + ": malformed YAML: " + e.what());
    }
#else
    throw UsageError(
        path + ": this build has no YAML reader (MINIDL_PORTABLE); write the config as .json");
#endif
  }
  if (!j.is_object()) throw UsageError(path + ": a config must be a map of settings");
  return j;
}

nlohmann::json merge_settings(nlohmann::json base, const nlohmann::json& overrides,
                              const std::string& source) {
  for (auto& [key, value] : overrides.items()) {
    if (!base.contains(key)) {
      std::string known;
      for (auto& [k, v] : base.items()) known += (known.empty() ? "" : ", ") + k;
      throw UsageError(source + ": unknown setting '" + key + "'; known: " + known);
    }
    const nlohmann::json& want = base[key];
    if (want.is_string() && value.is_number()) {  // "momentum: 0.9" in YAML: a schedule spec
      base[key] = value.dump();
      continue;
    }
    bool ok = (want.is_number() && value.is_number()) || (want.is_string() && value.is_string()) ||
              (want.is_boolean() && value.is_boolean()) || (want.is_object() && value.is_object());
    if (want.is_number_integer() && value.is_number_float()) ok = false;
    if (!ok)
      throw UsageError(source + ": setting '" + key + "' must be " +
                       (want.is_number_integer() ? "an integer"
                        : want.is_number()       ? "a number"
                        : want.is_boolean()      ? "true or false"
                        : want.is_object()       ? "a map"
                                                 : "a string") +
                       ", got " + value.dump());
    base[key] = value;
  }
  return base;
}

Device settings_device(const nlohmann::json& s) {
  Device d = usage_guard([&] { return parse_device(s["device"].get<std::string>()); });
  usage_guard([&] { check_device_available(d); });
  return d;
}

Datasets load_datasets(const nlohmann::json& s) {
  std::string name = s["dataset"], dir = s["data_dir"];
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
      d.train = std::make_shared<ImageFolderDataset>(dir + "/train");
      d.test = std::make_shared<ImageFolderDataset>(dir + "/val");
    } else if (name == "synthetic") {
      d.train = materialize(SyntheticDataset(2048, {1, 28, 28}, 10, 1, "synthetic/train"));
      d.test = materialize(SyntheticDataset(512, {1, 28, 28}, 10, 2, "synthetic/test"));
    } else {
      MINIDL_FAIL("unknown dataset '", name,
                  "'; known: fashion-mnist, mnist, cifar10, cifar100, imagefolder, synthetic");
    }
  });
  int64_t holdout = s["val_split"];
  if (holdout < 0 || holdout >= d.train->size())
    throw UsageError("val_split must be in [0, " + std::to_string(d.train->size()) + "), got " +
                     std::to_string(holdout));
  if (holdout > 0) {
    SplitDatasets split = split_dataset(d.train, holdout, s["seed"].get<uint64_t>());
    d.train = split.train;
    d.val = split.val;
  }
  const nlohmann::json& norm = s["normalize"];
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

static Transform train_transform(const nlohmann::json& s, const Shape& shape,
                                 const ChannelStats& stats) {
  std::string aug = s["augment"];
  int64_t h = shape[1], w = shape[2];
  if (aug == "auto")
    aug = (s["dataset"] == "cifar10" || s["dataset"] == "cifar100") ? "crop-flip" : "none";
  int64_t pad = s["crop_pad"];
  if (pad == 0) pad = h >= 32 ? 4 : 2;
  Transform t;
  if (aug == "crop" || aug == "crop-flip") t.pad_random_crop(h, w, pad);
  if (aug == "flip" || aug == "crop-flip") t.random_flip();
  if (aug != "none" && aug != "flip" && aug != "crop" && aug != "crop-flip")
    throw UsageError("unknown augment '" + aug + "'; known: auto, none, flip, crop, crop-flip");
  return t.normalize(stats);
}

static LoaderOptions loader_options(const nlohmann::json& s, bool shuffle) {
  LoaderOptions o;
  o.batch_size = s["batch_size"];
  if (o.batch_size <= 0)
    throw UsageError("batch_size must be positive, got " + std::to_string(o.batch_size));
  o.shuffle = shuffle;
  o.seed = s["seed"];
  o.workers = s["workers"];
  o.device = settings_device(s);
  return o;
}

std::unique_ptr<Loader> make_train_loader(const nlohmann::json& s, const Datasets& d) {
  Shape shape = d.train->image_shape();
  if (shape[1] < 0) shape = {shape[0], 224, 224};
  Transform t = s["dataset"] == "imagefolder"
                    ? Transform().random_resized_crop(224, 224).random_flip().normalize(d.stats)
                    : train_transform(s, shape, d.stats);
  return std::make_unique<Loader>(d.train, t, loader_options(s, true));
}

std::unique_ptr<Loader> make_eval_loader(const nlohmann::json& s, std::shared_ptr<const Dataset> ds,
                                         const ChannelStats& stats) {
  Transform t = s["dataset"] == "imagefolder"
                    ? Transform().resize(256).center_crop(224, 224).normalize(stats)
                    : Transform().normalize(stats);
  return std::make_unique<Loader>(ds, t, loader_options(s, false));
}

std::shared_ptr<Module> make_experiment_model(const nlohmann::json& s, const Shape& sample_shape,
                                              int64_t classes) {
  ModelArgs args;
  args.in_channels = sample_shape[0];
  args.image_size = sample_shape[1];
  args.num_classes = classes;
  for (auto& [k, v] : s["model_options"].items())
    args.options[k] = v.is_string() ? v.get<std::string>() : v.dump();
  manual_seed(s["seed"].get<uint64_t>());  // layers' default init and dropout seeds
  std::shared_ptr<Module> net = usage_guard([&] { return make_model(s["model"], args); });
  std::string init = s["init"];
  if (init != "default") {
    usage_guard([&] { check_init_scheme(init); });
    init_weights(*net, init, s["seed"].get<uint64_t>());
  }
  net->to(settings_device(s));
  return net;
}

std::string expand_schedule_units(const std::string& spec, int64_t iters_per_epoch,
                                  int64_t total_iters) {
  // One left-to-right scan (no regex: a spec is user text): after each '=', ';' or ':', a number
  // followed by "ep" or "%" becomes a whole number of iterations; everything else is copied.
  auto digits_end = [&](size_t k) {
    while (k < spec.size() && spec[k] >= '0' && spec[k] <= '9') ++k;
    return k;
  };
  std::string out;
  size_t i = 0;
  while (i < spec.size()) {
    char c = spec[i++];
    out += c;
    if (c != '=' && c != ';' && c != ':') continue;
    size_t end = digits_end(i);
    if (end == i) continue;
    if (end + 1 < spec.size() && spec[end] == '.' && digits_end(end + 1) > end + 1)
      end = digits_end(end + 1);
    size_t unit = spec.compare(end, 2, "ep") == 0 ? 2 : spec.compare(end, 1, "%") == 0 ? 1 : 0;
    if (unit == 0) continue;
    double v = 0;
    MINIDL_CHECK(parse_number(std::string_view(spec).substr(i, end - i), v), "schedule spec '",
                 spec.substr(0, 80), "': the number at character ", i, " is too long");
    double iters = unit == 2 ? v * iters_per_epoch : v / 100.0 * total_iters;
    MINIDL_CHECK(iters < 9e15, "schedule spec: ", v, unit == 2 ? " epochs" : "%",
                 " is more iterations than minidl counts");
    out += std::to_string(std::llround(iters));
    i = end + unit;
  }
  return out;
}

}  // namespace minidl::cli
