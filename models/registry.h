// Models by name (DESIGN.md §1, docs/models.md). The registry is an explicit function, never static
// initialisers: register_builtin_models() lists every built-in model once, and an unknown name is
// an error that lists the known ones.
//
//   ModelArgs args;            // input channels, image size and class count are arguments
//   args.in_channels = 1, args.image_size = 28, args.num_classes = 10;
//   std::shared_ptr<Module> net = make_model("resnet20", args);
//
// Options per model (args.options, "key" -> "value") are documented in docs/models.md and checked:
// an unknown key is an error naming the model and listing the keys it takes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace minidl {

struct ModelArgs {
  int64_t in_channels = 3;
  int64_t image_size = 32;  // square inputs
  int64_t num_classes = 10;
  std::map<std::string, std::string> options;  // model-specific, e.g. {"shortcut", "B"}
  // Fuse BatchNorm2d -> ReLU pairs (layers/fusion.h; same results, one pass fewer). Off also by
  // the environment: MINIDL_FUSE=off (for comparisons; "on" is the default).
  bool fuse = true;
};

using ModelFactory = std::function<std::shared_ptr<Module>(const ModelArgs&)>;

struct ModelInfo {
  std::string name;
  std::string description;           // one line for --help and docs
  std::vector<std::string> options;  // the option keys the factory reads
  ModelFactory factory;
};

// Adds a model; throws if the name is taken (so two registrations cannot silently shadow).
void register_model(ModelInfo info);
// Registers every built-in model (called once, lazily, by the functions below).
void register_builtin_models();

// Builds the model, then fuses it (ModelArgs::fuse, MINIDL_FUSE).
std::shared_ptr<Module> make_model(const std::string& name, const ModelArgs& args);
// Whether make_model fuses when args.fuse is set: MINIDL_FUSE (on|off; a bad value throws).
bool fusion_enabled();
std::vector<std::string> model_names();
const ModelInfo& model_info(const std::string& name);

// For factories: option `key` of args as a string/int/double, or `fallback` when absent.
std::string model_option(const ModelArgs& args, const std::string& key,
                         const std::string& fallback);
int64_t model_option_int(const ModelArgs& args, const std::string& key, int64_t fallback);
double model_option_double(const ModelArgs& args, const std::string& key, double fallback);

// The factories (models/<family>.cpp), each one line in register_builtin_models().
std::shared_ptr<Module> make_lenet(const ModelArgs& args);
std::shared_ptr<Module> make_cifar3(const ModelArgs& args);
std::shared_ptr<Module> make_resnet_cifar(int depth, const ModelArgs& args);
std::shared_ptr<Module> make_wide32(const ModelArgs& args);
std::shared_ptr<Module> make_wrn(int depth, int widen, const ModelArgs& args);
std::shared_ptr<Module> make_densenet(int depth, int growth, const ModelArgs& args);
std::shared_ptr<Module> make_resnet_imagenet(int depth, const ModelArgs& args);

}  // namespace minidl
