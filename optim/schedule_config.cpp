#include "optim/schedule_config.h"

#include <cmath>

#include "core/error.h"
#include "core/text.h"

namespace minidl {

namespace {

// A scalar as its text: strings as written, numbers in their shortest form, booleans as words.
std::string scalar_text(const std::string& key, const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  MINIDL_CHECK(v.is_number() || v.is_boolean(), "schedule config: key '", key,
               "' must be a number, a string or a list, got ", v.dump().substr(0, 60));
  return v.dump();
}

// A scalar as written; a sequence of scalars as "a;b;c"; a sequence of pairs as "a:b;c:d".
std::string value_text(const std::string& key, const nlohmann::json& v) {
  if (!v.is_array()) return scalar_text(key, v);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const nlohmann::json& item = v[i];
    std::string text;
    if (item.is_array()) {
      MINIDL_CHECK(item.size() == 2, "schedule config: key '", key, "': item ", i,
                   " must be a scalar or an [iteration, value] pair");
      text = scalar_text(key, item[0]) + ":" + scalar_text(key, item[1]);
    } else {
      text = scalar_text(key, item);
    }
    out += (i ? ";" : "") + text;
  }
  return out;
}

// "41ep" or "45%" as iterations; anything else unchanged.
std::string expand_one(const std::string& text, int64_t iters_per_epoch, int64_t total_iters) {
  const bool epochs = ends_with(text, "ep"), percent = ends_with(text, "%");
  if (!epochs && !percent) return text;
  std::string number = text.substr(0, text.size() - (epochs ? 2 : 1));
  double v = 0;
  if (!parse_number(number, v) || v < 0) return text;  // make_schedule names the key
  double iters = epochs ? v * iters_per_epoch : v / 100.0 * total_iters;
  MINIDL_CHECK(iters < 9e15, "schedule: '", text, "' is more iterations than minidl counts");
  return std::to_string(std::llround(iters));
}

}  // namespace

ScheduleSpec schedule_spec_from_json(const nlohmann::json& node) {
  if (node.is_string()) return parse_schedule_spec(node.get<std::string>());
  if (node.is_number()) return parse_schedule_spec(node.dump());
  MINIDL_CHECK(node.is_object(),
               "schedule config: a schedule is a string, a number or a map with "
               "'name', got ",
               node.dump().substr(0, 60));
  ScheduleSpec spec;
  for (const auto& [key, value] : node.items()) {
    if (key == "name") {
      MINIDL_CHECK(value.is_string(), "schedule config: 'name' must be a string");
      spec.name = value.get<std::string>();
    } else {
      spec.params.push_back({key, value_text(key, value)});
    }
  }
  MINIDL_CHECK(!spec.name.empty(),
               "schedule config: the map has no 'name' key (known names: ", join(schedule_names()),
               ")");
  return spec;
}

void expand_schedule_units(ScheduleSpec& spec, int64_t iters_per_epoch, int64_t total_iters) {
  for (auto& [key, value] : spec.params) {
    std::vector<std::string> items = split(value, ';');
    for (std::string& item : items) {
      size_t colon = item.find(':');  // a point: only its iteration is in iterations
      item = colon == std::string::npos
                 ? expand_one(item, iters_per_epoch, total_iters)
                 : expand_one(item.substr(0, colon), iters_per_epoch, total_iters) +
                       item.substr(colon);
    }
    value = join(items, ";");
  }
}

std::unique_ptr<Schedule> schedule_from_config(const nlohmann::json& node, ScheduleRole role,
                                               int64_t iters_per_epoch, int64_t total_iters) {
  ScheduleSpec spec = schedule_spec_from_json(node);
  expand_schedule_units(spec, iters_per_epoch, total_iters);
  return make_schedule(spec, role);
}

}  // namespace minidl
