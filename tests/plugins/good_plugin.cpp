// A plugin for tests/models/test_plugin.cpp: registers the model "plugin_mlp" (flatten, fc classes).
#include "core/plugin.h"
#include "layers/layers.h"
#include "models/registry.h"

MINIDL_PLUGIN("test_good") {
  minidl::register_model({"plugin_mlp", "a test plugin's model: flatten, fc", {}, [](const minidl::ModelArgs& a) {
                            auto net = std::make_shared<minidl::Sequential>();
                            net->add("flatten", std::make_shared<minidl::Flatten>());
                            net->add("fc", std::make_shared<minidl::Linear>(
                                               a.in_channels * a.image_size * a.image_size, a.num_classes));
                            return std::shared_ptr<minidl::Module>(net);
                          }});
}
