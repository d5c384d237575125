// Schedules from YAML/JSON nodes: both reduce to a ScheduleSpec, validated by make_schedule.
// Builds without yaml-cpp (MINIDL_WITH_YAML=0: MINIDL_PORTABLE) keep the functions, which throw.
#include "optim/schedule_config.h"

#include "core/error.h"

#if MINIDL_WITH_YAML
#include <yaml-cpp/yaml.h>

namespace minidl {
namespace {

// A scalar as written; a sequence of scalars as "a;b;c"; a sequence of pairs as "a:b;c:d".
std::string value_text(const std::string& key, const YAML::Node& v) {
  if (v.IsScalar()) return v.Scalar();
  MINIDL_CHECK(v.IsSequence(), "schedule config: key '", key, "' must be a scalar or a sequence");
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const YAML::Node& item = v[i];
    std::string text;
    if (item.IsScalar()) {
      text = item.Scalar();
    } else {
      MINIDL_CHECK(
          item.IsSequence() && item.size() == 2 && item[0].IsScalar() && item[1].IsScalar(),
          "schedule config: key '", key, "': item ", i,
          " must be a scalar or an [iteration, value] pair");
      text = item[0].Scalar() + ":" + item[1].Scalar();
    }
    out += (i ? ";" : "") + text;
  }
  return out;
}

}  // namespace

ScheduleSpec schedule_spec_from_yaml(const YAML::Node& node) {
  MINIDL_CHECK(node.IsDefined() && !node.IsNull(), "schedule config: the schedule node is empty");
  if (node.IsScalar()) return parse_schedule_spec(node.Scalar());
  MINIDL_CHECK(node.IsMap(), "schedule config: a schedule is a string or a map with 'name'");
  ScheduleSpec spec;
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    if (key == "name") {
      MINIDL_CHECK(kv.second.IsScalar(), "schedule config: 'name' must be a string");
      spec.name = kv.second.Scalar();
    } else {
      spec.params.push_back({key, value_text(key, kv.second)});
    }
  }
  MINIDL_CHECK(
      !spec.name.empty(), "schedule config: the map has no 'name' key (known names: ",
      [] {
        std::string s;
        for (const std::string& n : schedule_names()) s += (s.empty() ? "" : ", ") + n;
        return s;
      }(),
      ")");
  return spec;
}

std::unique_ptr<Schedule> schedule_from_yaml(const YAML::Node& node, ScheduleRole role) {
  return make_schedule(schedule_spec_from_yaml(node), role);
}

std::unique_ptr<Schedule> schedule_from_config_text(const std::string& text, ScheduleRole role) {
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    MINIDL_FAIL("schedule config: cannot parse YAML/JSON: ", e.what());
  }
  return schedule_from_yaml(node, role);
}

}  // namespace minidl

#else  // !MINIDL_WITH_YAML

namespace minidl {

[[noreturn]] static void no_yaml() {
  MINIDL_FAIL("schedule config: this build of minidl has no YAML/JSON reader (MINIDL_PORTABLE ",
              "builds leave yaml-cpp out); give the schedule as a flag string instead");
}
ScheduleSpec schedule_spec_from_yaml(const YAML::Node&) {
  no_yaml();
}
std::unique_ptr<Schedule> schedule_from_yaml(const YAML::Node&, ScheduleRole) {
  no_yaml();
}
std::unique_ptr<Schedule> schedule_from_config_text(const std::string&, ScheduleRole) {
  no_yaml();
}

}  // namespace minidl

#endif  // MINIDL_WITH_YAML
