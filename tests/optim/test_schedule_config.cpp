// Schedules from config values (JSON; the CLI reads YAML into the same JSON): the flag string
// form, numbers, the map form, lists and points, the units "ep" and "%", and errors naming the key.
#include <gtest/gtest.h>

#include "optim/schedule_config.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using nlohmann::json;

std::unique_ptr<Schedule> from(const std::string& text, ScheduleRole role, int64_t per_epoch = 100,
                               int64_t total = 1000) {
  return schedule_from_config(json::parse(text), role, per_epoch, total);
}

TEST(ScheduleConfig, MapStringAndNumberForms) {
  auto a =
      from(R"({"name": "onecycle-smith", "base": 0.08, "max": 0.8, "ss": 4003})", ScheduleRole::lr);
  EXPECT_EQ(a->spec(), "onecycle-smith:base=0.08,max=0.8,ss=4003");
  auto b = from(R"("onecycle-smith:base=0.08,max=0.8,ss=4003")", ScheduleRole::lr);
  EXPECT_EQ(a->spec(), b->spec());
  auto m = from(R"({"name": "multistep", "base": 0.1, "gamma": 0.316,
                    "steps": [4638, 6957, 8117, 8697]})",
                ScheduleRole::lr);
  EXPECT_EQ(m->spec(), "multistep:base=0.1,gamma=0.316,steps=4638;6957;8117;8697");
  auto p = from(R"({"name": "piecewise", "points": [[0, 0.1], [100, 1.0]]})", ScheduleRole::lr);
  EXPECT_DOUBLE_EQ(p->value(50), 0.55);
  auto c = from("0.9", ScheduleRole::momentum);
  EXPECT_DOUBLE_EQ(c->value(3), 0.9);
  auto s = from(R"({"name": "cyclic-momentum-smith", "max": 0.95, "min": 0.85, "ss": 4003})",
                ScheduleRole::momentum);
  EXPECT_EQ(s->spec(), "cyclic-momentum-smith:max=0.95,min=0.85,ss=4003,direction=down");
  auto t = from(R"({"name": "onecycle-torch", "max_lr": 0.8, "total_steps": 9277,
                    "three_phase": true})",
                ScheduleRole::lr);
  EXPECT_NE(t->spec().find("three_phase=true"), std::string::npos);
}

TEST(ScheduleConfig, EpochsAndSharesBecomeIterations) {
  // 100 iterations per epoch, 1000 in all
  EXPECT_EQ(from(R"("onecycle-smith:base=0.1,max=1,ss=4ep")", ScheduleRole::lr)->spec(),
            "onecycle-smith:base=0.1,max=1,ss=400");
  EXPECT_EQ(from(R"("onecycle-smith:base=0.1,max=1,ss=45%")", ScheduleRole::lr)->spec(),
            "onecycle-smith:base=0.1,max=1,ss=450");
  EXPECT_EQ(from(R"("onecycle-smith:base=0.1,max=1,ss=2.5ep")", ScheduleRole::lr)->spec(),
            "onecycle-smith:base=0.1,max=1,ss=250");
  EXPECT_EQ(from(R"({"name": "multistep", "base": 0.1, "gamma": 0.316,
                     "steps": ["50%", "75%", "87.5%"]})",
                 ScheduleRole::lr)
                ->spec(),
            "multistep:base=0.1,gamma=0.316,steps=500;750;875");
  // in a point only the iteration is in units: 0.5 stays a value
  auto p = from(R"("piecewise:points=0:0.1;5ep:0.5")", ScheduleRole::lr);
  EXPECT_EQ(p->spec(), "piecewise:points=0:0.1;500:0.5");
  EXPECT_MINIDL_ERROR(from(R"("onecycle-smith:base=0.1,max=1,ss=1e300ep")", ScheduleRole::lr),
                      "more iterations");
  std::string huge = "\"fixed:value=" + std::string(50000, '1') + "\"";
  EXPECT_MINIDL_ERROR(from(huge, ScheduleRole::lr), "key 'value'", "expects a number");
}

TEST(ScheduleConfig, ErrorsNameTheField) {
  EXPECT_MINIDL_ERROR(from(R"({"base": 0.1})", ScheduleRole::lr), "no 'name' key",
                      "onecycle-smith");
  EXPECT_MINIDL_ERROR(
      from(R"({"name": "step", "base": 0.1, "gamma": 0.1, "stepsize": "x"})", ScheduleRole::lr),
      "key 'stepsize'", "expects an integer");
  EXPECT_MINIDL_ERROR(from(R"({"name": "piecewise", "points": [[0, 1, 2]]})", ScheduleRole::lr),
                      "key 'points'", "pair");
  EXPECT_MINIDL_ERROR(from(R"({"name": "fixed", "value": {"a": 1}})", ScheduleRole::lr),
                      "key 'value'");
  EXPECT_MINIDL_ERROR(from("[1, 2]", ScheduleRole::lr), "a string, a number or a map");
}

}  // namespace
}  // namespace minidl
