// Schedules from YAML and JSON config text: the flag string form, the map form, lists and points.
// Builds without yaml-cpp (MINIDL_PORTABLE) check that the readers say so instead.
#include <gtest/gtest.h>

#include "optim/schedule_config.h"
#include "tests/testing.h"

namespace minidl {
namespace {

#if !MINIDL_WITH_YAML
TEST(ScheduleConfig, BuildWithoutYamlSaysSo) {
  EXPECT_MINIDL_ERROR(schedule_from_config_text("0.9", ScheduleRole::momentum), "no YAML/JSON");
}
#else

TEST(ScheduleConfig, YamlMapAndStringForms) {
  auto a = schedule_from_config_text("name: onecycle-smith\nbase: 0.08\nmax: 0.8\nss: 4003\n",
                                     ScheduleRole::lr);
  EXPECT_EQ(a->spec(), "onecycle-smith:base=0.08,max=0.8,ss=4003");
  auto b =
      schedule_from_config_text("\"onecycle-smith:base=0.08,max=0.8,ss=4003\"", ScheduleRole::lr);
  EXPECT_EQ(a->spec(), b->spec());
  auto m = schedule_from_config_text(
      "name: multistep\nbase: 0.1\ngamma: 0.316\n"
      "steps: [4638, 6957, 8117, 8697]\n",
      ScheduleRole::lr);
  EXPECT_EQ(m->spec(), "multistep:base=0.1,gamma=0.316,steps=4638;6957;8117;8697");
  auto p = schedule_from_config_text("name: piecewise\npoints:\n  - [0, 0.1]\n  - [100, 1.0]\n",
                                     ScheduleRole::lr);
  EXPECT_DOUBLE_EQ(p->value(50), 0.55);
  auto c = schedule_from_config_text("0.9", ScheduleRole::momentum);
  EXPECT_DOUBLE_EQ(c->value(3), 0.9);
}

TEST(ScheduleConfig, Json) {
  auto s = schedule_from_config_text(
      R"({"name": "cyclic-momentum-smith", "max": 0.95, "min": 0.85, "ss": 4003})",
      ScheduleRole::momentum);
  EXPECT_EQ(s->spec(), "cyclic-momentum-smith:max=0.95,min=0.85,ss=4003,direction=down");
  auto t = schedule_from_config_text(
      R"({"name": "onecycle-torch", "max_lr": 0.8, "total_steps": 9277, "three_phase": true})",
      ScheduleRole::lr);
  EXPECT_NE(t->spec().find("three_phase=true"), std::string::npos);
}

TEST(ScheduleConfig, ErrorsNameTheField) {
  EXPECT_MINIDL_ERROR(schedule_from_config_text("base: 0.1\n", ScheduleRole::lr), "no 'name' key",
                      "onecycle-smith");
  EXPECT_MINIDL_ERROR(schedule_from_config_text("name: step\nbase: 0.1\ngamma: 0.1\nstepsize: x\n",
                                                ScheduleRole::lr),
                      "key 'stepsize'", "expects an integer");
  EXPECT_MINIDL_ERROR(schedule_from_config_text("name: [1, 2\n", ScheduleRole::lr), "cannot parse");
  EXPECT_MINIDL_ERROR(
      schedule_from_config_text("name: piecewise\npoints: [[0, 1, 2]]\n", ScheduleRole::lr),
      "key 'points'", "pair");
}

#endif  // MINIDL_WITH_YAML

}  // namespace
}  // namespace minidl
