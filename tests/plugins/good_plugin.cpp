// A plugin for tests/models/test_plugin.cpp: registers the model "plugin_mlp" (flatten, fc classes)
// and the schedule "plugin_half" (half its key `value`, at every iteration).
#include "core/plugin.h"
#include "layers/layers.h"
#include "models/registry.h"
#include "optim/schedule_registry.h"

MINIDL_PLUGIN("test_good") {
  minidl::register_model({"plugin_mlp", "a test plugin's model: flatten, fc", {}, [](const minidl::ModelArgs& a) {
                            auto net = std::make_shared<minidl::Sequential>();
                            net->add("flatten", std::make_shared<minidl::Flatten>());
                            net->add("fc", std::make_shared<minidl::Linear>(
                                               a.in_channels * a.image_size * a.image_size, a.num_classes));
                            return std::shared_ptr<minidl::Module>(net);
                          }});
  namespace sr = minidl::schedule_registry;
  sr::register_schedule({"plugin_half", {{"value", sr::KeyType::number, nullptr, /*level=*/true}},
                         [](const sr::Args& a) -> sr::Fn {
                           double v = a.number("value") / 2;
                           return [=](int64_t) { return v; };
                         }});
}
