// A plugin for tests/models/test_plugin.cpp that registers a model under a built-in's name.
#include "core/plugin.h"
#include "models/registry.h"

MINIDL_PLUGIN("test_clash") {
  minidl::register_model({"resnet20", "a second resnet20", {}, minidl::model_info("lenet").factory});
}
