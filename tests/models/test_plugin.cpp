// Plugins (core/plugin.h) loaded by path: a model registered and built, a second load a no-op, and
// each refusal naming the path: a missing file, a library that is not a plugin, a plugin built
// against another minidl, a registration that clashes with a built-in model.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>

#include "core/error.h"
#include "core/plugin.h"
#include "models/registry.h"
#include "optim/schedule.h"

namespace minidl {
namespace {

std::string plugin(const std::string& name) {
  return std::string(MINIDL_TEST_PLUGIN_DIR) + "/libminidl_test_plugin_" + name + ".so";
}

// The plugins are built beside this test; a copy of the test elsewhere (the GPU bundle) has none.
#define SKIP_WITHOUT_PLUGINS()                                                     \
  do {                                                                             \
    struct stat st_;                                                               \
    if (stat(plugin("good").c_str(), &st_) != 0)                                   \
      GTEST_SKIP() << "the test plugins are not at " << MINIDL_TEST_PLUGIN_DIR;    \
  } while (0)

std::string error_of(const std::string& path) {
  try {
    load_plugin(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Plugin, RegistersAModelOnce) {
  SKIP_WITHOUT_PLUGINS();
  PluginInfo info = load_plugin(plugin("good"));
  EXPECT_EQ(info.name, "test_good");
  EXPECT_EQ(load_plugin(std::string(MINIDL_TEST_PLUGIN_DIR) + "/./libminidl_test_plugin_good.so").name, "test_good")
      << "a second path to the same file loads nothing";
  ModelArgs args;
  args.in_channels = 1, args.image_size = 4, args.num_classes = 3;
  Tensor y = make_model("plugin_mlp", args)->forward(Tensor::zeros({2, 1, 4, 4}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  bool listed = false;
  for (const std::string& n : model_names()) listed |= n == "plugin_mlp";
  EXPECT_TRUE(listed);
  int count = 0;
  for (const PluginInfo& p : loaded_plugins()) count += p.name == "test_good";
  EXPECT_EQ(count, 1);
  // Its schedule, by name and keys, as any --lr spec.
  auto lr = make_schedule(parse_schedule_spec("plugin_half:value=0.4"), ScheduleRole::lr);
  EXPECT_DOUBLE_EQ(lr->value(0), 0.2);
  EXPECT_DOUBLE_EQ(lr->value(1000), 0.2);
}

TEST(Plugin, RefusalsNameThePath) {
  SKIP_WITHOUT_PLUGINS();
  EXPECT_NE(error_of("/nonexistent/x.so").find("plugin '/nonexistent/x.so': no such file"),
            std::string::npos);
  EXPECT_NE(error_of(MINIDL_TEST_PLUGIN_DIR).find("not a regular file"), std::string::npos);
  std::string e = error_of(MINIDL_LIBRARY_PATH);
  EXPECT_NE(e.find("is not a minidl plugin: it has no symbol minidl_plugin_name"), std::string::npos)
      << e;
  e = error_of(plugin("stale"));
  EXPECT_NE(e.find("was built against \"minidl 0.0.0-stale"), std::string::npos) << e;
  EXPECT_NE(e.find(build_key()), std::string::npos) << e;
  EXPECT_EQ(e.find("registration ran"), std::string::npos) << e;
  e = error_of(plugin("clash"));
  EXPECT_NE(e.find("(test_clash): registration failed: model 'resnet20' is registered twice"),
            std::string::npos)
      << e;
}

TEST(Plugin, BuildKeyNamesVersionAndSwitches) {
  EXPECT_EQ(build_key().rfind(std::string("minidl ") + MINIDL_VERSION + " cuda=", 0), 0u)
      << build_key();
}

}  // namespace
}  // namespace minidl
