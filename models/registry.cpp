#include "models/registry.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"
#include "core/text.h"
#include "layers/fusion.h"

namespace minidl {

namespace {
std::vector<ModelInfo>& registry() {
  static std::vector<ModelInfo> models;
  return models;
}
std::once_flag g_builtins;
bool g_registering_builtins = false;  // inside call_once: register_model must not wait on it
void ensure_builtins() {
  std::call_once(g_builtins, [] {
    g_registering_builtins = true;
    register_builtin_models();
    g_registering_builtins = false;
  });
}
}  // namespace

void register_model(ModelInfo info) {
  // The built-ins first, so that a plugin's model named like one of them is refused now, by name,
  // and not at the first make_model.
  if (!g_registering_builtins) ensure_builtins();
  for (const ModelInfo& m : registry())
    MINIDL_CHECK(m.name != info.name, "model '", info.name, "' is registered twice");
  registry().push_back(std::move(info));
}

void register_builtin_models() {
  const std::vector<std::string> cifar_resnet_opts = {"shortcut"};
  const std::vector<std::string> none;
  register_model({"lenet", "Caffe's MNIST LeNet (conv 20, conv 50, fc 500)", none, make_lenet});
  register_model({"cifar3", "Caffe's cifar10_full: 3 conv layers with LRN", none, make_cifar3});
  for (int depth : {20, 32, 44, 56, 110})
    register_model(
        {"resnet" + std::to_string(depth),
         "CIFAR ResNet-" + std::to_string(depth) + " (He et al. 2016), 16/32/64 channels",
         cifar_resnet_opts, [depth](const ModelArgs& a) { return make_resnet_cifar(depth, a); }});
  register_model({"wide32",
                  "Smith's wide32: ResNet-32 layout (15 blocks), widths 16/64/256",
                  {"shortcut"},
                  make_wide32});
  for (auto [d, k] : std::vector<std::pair<int, int>>{{16, 8}, {28, 10}, {40, 4}})
    register_model({"wrn" + std::to_string(d) + "_" + std::to_string(k),
                    "pre-activation Wide ResNet-" + std::to_string(d) + "-" + std::to_string(k),
                    {"dropout"},
                    [d = d, k = k](const ModelArgs& a) { return make_wrn(d, k, a); }});
  register_model({"densenet40",
                  "DenseNet-40, growth 12, dropout 0.2 (Huang et al. 2017)",
                  {"dropout", "growth"},
                  [](const ModelArgs& a) { return make_densenet(40, 12, a); }});
  for (int depth : {18, 34, 50})
    register_model({"resnet" + std::to_string(depth),
                    "torchvision resnet" + std::to_string(depth) + (depth == 50 ? " (v1.5)" : ""),
                    none, [depth](const ModelArgs& a) { return make_resnet_imagenet(depth, a); }});
}

std::vector<std::string> model_names() {
  ensure_builtins();
  std::vector<std::string> names;
  for (const ModelInfo& m : registry()) names.push_back(m.name);
  return names;
}

const ModelInfo& model_info(const std::string& name) {
  ensure_builtins();
  for (const ModelInfo& m : registry())
    if (m.name == name) return m;
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  MINIDL_FAIL("unknown model '", name, "'; known models: ", known);
}

std::shared_ptr<Module> make_model(const std::string& name, const ModelArgs& args) {
  const ModelInfo& info = model_info(name);
  for (auto& [key, value] : args.options)
    if (std::find(info.options.begin(), info.options.end(), key) == info.options.end()) {
      std::string known;
      for (const std::string& k : info.options) known += (known.empty() ? "" : ", ") + k;
      MINIDL_FAIL("model '", name, "' has no option '", key, "'",
                  known.empty() ? std::string(" (it takes none)") : "; its options: " + known);
    }
  MINIDL_CHECK(args.in_channels > 0 && args.image_size > 0 && args.num_classes > 0, "model '", name,
               "': in_channels, image_size and num_classes must be positive");
  std::shared_ptr<Module> net = info.factory(args);
  if (args.fuse && fusion_enabled()) fuse_bn_relu(*net);
  return net;
}

bool fusion_enabled() {
  const char* v = std::getenv("MINIDL_FUSE");
  if (!v || !*v || std::strcmp(v, "on") == 0) return true;
  MINIDL_CHECK(std::strcmp(v, "off") == 0, "MINIDL_FUSE='", v, "' is unknown; known: on, off");
  return false;
}

std::string model_option(const ModelArgs& args, const std::string& key,
                         const std::string& fallback) {
  auto it = args.options.find(key);
  return it == args.options.end() ? fallback : it->second;
}

// The option's value read by `parse` (core/text.h), or `fallback` when it is not given.
template <typename T, typename Parse>
static T typed_option(const ModelArgs& args, const std::string& key, T fallback, Parse parse,
                      const char* what) {
  std::string v = model_option(args, key, "");
  if (v.empty()) return fallback;
  T out{};
  MINIDL_CHECK(parse(v, out), "model option ", key, "='", v, "' is not ", what);
  return out;
}

int64_t model_option_int(const ModelArgs& args, const std::string& key, int64_t fallback) {
  return typed_option<int64_t>(
      args, key, fallback, [](const std::string& v, int64_t& o) { return parse_int(v, o); },
      "an integer");
}

double model_option_double(const ModelArgs& args, const std::string& key, double fallback) {
  return typed_option<double>(
      args, key, fallback, [](const std::string& v, double& o) { return parse_number(v, o); },
      "a number");
}

}  // namespace minidl
