// minidl_train's typed settings: the resolved config round-trips, every error names its key (and
// source), YAML and JSON config files read the same, flags are typed by their key, and each verb's
// flags are the keys of the structs it takes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kernels/conv.h"
#include "tools/train/config_file.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {
namespace {

namespace fs = std::filesystem;

// Runs `fn`, expecting a UsageError whose message holds every fragment.
template <typename Fn>
void expect_usage_error(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a UsageError";
  } catch (const UsageError& e) {
    for (const std::string& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "'" << f << "' not in: " << e.what();
  }
}

Settings customised() {
  Settings s;
  s.model.model = "resnet56";
  s.model.model_options = {{"shortcut", "smith"}};
  s.data.batch_size = 512;
  s.data.normalize = {{"mean", {0.5}}, {"std", {0.25}}};
  s.optim.weight_decay = 1e-4;
  s.optim.nesterov = false;
  s.schedule.lr = {{"name", "multistep"}, {"base", 0.1}, {"gamma", 0.316}, {"steps", {10, 20}}};
  s.schedule.momentum = 0.9;
  s.run.seed = 4;
  s.loop.checkpoint_every = -1;
  return s;
}

TEST(Settings, TheResolvedConfigRoundTrips) {
  for (const Settings& original : {Settings(), customised()}) {
    nlohmann::json j = original.to_json();
    Settings back;
    back.merge(nlohmann::json::parse(j.dump(2)), "config.json");
    EXPECT_EQ(back.to_json(), j);
    back.validate();
  }
  // every key of every struct is in the map, once
  Settings s;
  EXPECT_EQ(s.to_json().size(), s.fields().size());
}

TEST(Settings, UnknownKeysAndWrongTypesNameTheKeyAndTheSource) {
  Settings s;
  expect_usage_error(
      [&] {
        s.merge({{"modle", "lenet"}}, "exp.yaml");
      },
      {"exp.yaml", "unknown setting 'modle'", "known: model,"});
  expect_usage_error(
      [&] {
        s.merge({{"batch_size", 1.5}}, "exp.yaml");
      },
      {"setting 'batch_size' must be an integer, got 1.5"});
  expect_usage_error([&] { s.merge({{"nesterov", "yes"}}, "x"); }, {"'nesterov'", "true or false"});
  expect_usage_error([&] { s.merge({{"normalize", "none"}}, "x"); }, {"'normalize'", "a map"});
  expect_usage_error([&] { s.merge({{"lr", {1, 2}}}, "x"); }, {"'lr'", "a schedule"});
  s.merge({{"momentum", 0.9}, {"lr", "fixed:value=0.1"}}, "x");  // numbers are schedules too
  EXPECT_EQ(s.schedule.momentum, 0.9);
}

TEST(Settings, ValidationNamesTheKey) {
  const std::pair<std::function<void(Settings&)>, std::string> cases[] = {
      {[](Settings& s) { s.data.batch_size = 0; }, "'batch_size' must be positive"},
      {[](Settings& s) { s.data.augment = "rotate"; }, "'augment' is 'rotate'; known: auto"},
      {[](Settings& s) {
         s.data.normalize = {{"mean", {0.5}}, {"std", {}}};
       },
       "'normalize'"},
      {[](Settings& s) {
         s.data.normalize = {{"mean", {0.5}}, {"std", {0.0}}};
       },
       "std > 0"},
      {[](Settings& s) { s.optim.sgd_form = "adam"; }, "'sgd_form' is 'adam'; known: caffe"},
      {[](Settings& s) { s.optim.label_smoothing = 1; }, "'label_smoothing'"},
      {[](Settings& s) { s.model.init = "zeros"; }, "zeros"},
      {[](Settings& s) {
         s.model.model_options = {{"depth", {1, 2}}};
       },
       "'model_options'"},
      {[](Settings& s) { s.run.device = "tpu"; }, "unknown device 'tpu'"},
      {[](Settings& s) { s.run.precision = "fp8"; }, "'precision' is 'fp8'; known: f32, bf16, f16"},
      {[](Settings& s) { s.run.memory_format = "nhwc"; },
       "'memory_format' is 'nhwc'; known: contiguous, channels_last"},
      {[](Settings& s) { s.run.cuda_graph = true; },
       "'cuda_graph' needs a CUDA device; device is cpu"},
      {[](Settings& s) { s.loop.eval_batches = 0; }, "'eval_batches'"},
      {[](Settings& s) { s.schedule.lr = ""; }, "'lr' must be a schedule"},
      {[](Settings& s) { s.run.out = "runs/\xff"; }, "'out' is not valid UTF-8"},
      {[](Settings& s) {
         s.model.model_options = {{"\xc3", "1"}};
       },
       "'model_options' is not"},
      {[](Settings& s) { s.optim.weight_decay = -1; }, "'weight_decay' must be a finite"},
      {[](Settings& s) { s.schedule.epochs = -1; }, "'epochs' must be >= 0"},
      {[](Settings& s) { s.data.synthetic_shape = "3x32"; }, "'synthetic_shape': expected CxHxW"},
      {[](Settings& s) { s.data.synthetic_shape = "3x32x16"; }, "H = W"},
      {[](Settings& s) { s.data.synthetic_classes = 1; }, "'synthetic_classes'"},
      {[](Settings& s) {
         s.data.synthetic_shape = "3x224x224";
         s.data.synthetic_images = 1 << 20;
       },
       "'synthetic_images' must be at least 4 and hold at most 4 GiB"},
  };
  for (const auto& [change, fragment] : cases) {
    Settings s;
    change(s);
    expect_usage_error([&] { s.validate(); }, {fragment});
  }
}

TEST(Settings, YamlAndJsonConfigFilesReadAlike) {
  if (!MINIDL_WITH_YAML) GTEST_SKIP() << "a MINIDL_PORTABLE build reads JSON configs only";
  fs::path dir = fs::temp_directory_path() / ("minidl_settings_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a.yaml") << "model: resnet56\nbatch_size: 512\nweight_decay: 1e-4\n"
                                   "nesterov: false\nout: \"123\"\nmomentum: 0.9\n"
                                   "lr:\n  name: multistep\n  base: 0.1\n  gamma: 0.316\n"
                                   "  steps: [10, 20]\n";
  std::ofstream(dir / "a.json") << R"({"model": "resnet56", "batch_size": 512,
    "weight_decay": 1e-4, "nesterov": false, "out": "123", "momentum": 0.9,
    "lr": {"name": "multistep", "base": 0.1, "gamma": 0.316, "steps": [10, 20]}})";
  Settings a, b;
  a.merge(read_config_file((dir / "a.yaml").string()), "a.yaml");
  b.merge(read_config_file((dir / "a.json").string()), "a.json");
  EXPECT_EQ(a.to_json(), b.to_json());
  EXPECT_EQ(a.run.out, "123");  // quoted: a string, not a number
  std::ofstream(dir / "list.yaml") << "- 1\n- 2\n";
  expect_usage_error([&] { read_config_file((dir / "list.yaml").string()); }, {"a map"});
  expect_usage_error([&] { read_config_file((dir / "none.yaml").string()); }, {"no such file"});
  fs::remove_all(dir);
}

// Parses `args` (after the verb name) for a verb with the given keys; returns the settings.
Settings parse(const std::vector<std::string>& keys, std::vector<std::string> args) {
  CLI::App app;
  auto flags = add_settings_flags(&app, keys);
  args.insert(args.begin(), "minidl_train");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return resolve_settings(*flags, Settings());
}

TEST(SettingsFlags, TypedByTheirKey) {
  std::vector<std::string> keys = keys_of(DataSettings());
  keys.insert(keys.end(), {"lr", "model_options"});
  Settings s = parse(keys, {"--batch-size", "64", "--lr", "0.1", "--model-option", "depth=20"});
  EXPECT_EQ(s.data.batch_size, 64);
  EXPECT_EQ(s.schedule.lr, "0.1");
  EXPECT_EQ(s.model.model_options, (nlohmann::json{{"depth", "20"}}));
  expect_usage_error(
      [&] {
        parse({"batch_size"}, {"--batch-size", "12x"});
      },
      {"--batch-size: expected an integer, got '12x'"});
  expect_usage_error(
      [&] {
        parse({"nesterov"}, {"--nesterov", "maybe"});
      },
      {"--nesterov: expected true or false"});
  // --deterministic is a switch of the run; applying the run's settings hands it to cuDNN's choice
  Settings det = parse(keys_of(RunSettings()), {"--deterministic"});
  EXPECT_TRUE(det.run.deterministic);
  det.run.apply_compute();
  EXPECT_TRUE(conv_deterministic());
  Settings plain = parse(keys_of(RunSettings()), {});
  EXPECT_FALSE(plain.run.deterministic);
  plain.run.apply_compute();
  EXPECT_FALSE(conv_deterministic());
  // a map setting has no flag; a key outside the verb's list has none either
  EXPECT_THROW(parse(keys_of(DataSettings()), {"--normalize", "x"}), CLI::ParseError);
  EXPECT_THROW(parse({"batch_size"}, {"--epochs", "3"}), CLI::ParseError);
}

}  // namespace
}  // namespace minidl::cli
