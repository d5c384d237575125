// Schedule specs: the flag grammar `name:key=value,...`, each key's canonical value, and
// make_schedule, which checks a spec against the registry (schedule_registry.cpp).
#include <algorithm>
#include <memory>

#include "optim/schedule_registry.h"

namespace minidl {

using namespace schedule_registry;

namespace {

// Checks `text` against the key's type and returns its canonical form; fails naming the key.
std::string canonical_value(const Args& a, const KeyDef& k, const std::string& text,
                            ScheduleRole role) {
  auto check_level = [&](double v) {
    if (!k.level) return;
    if (role == ScheduleRole::lr && !(v >= 0))
      a.fail(k.name, "must be >= 0 (a learning rate), got " + format_number(v));
    if (role == ScheduleRole::momentum && !(v >= 0 && v <= 1))
      a.fail(k.name, "must lie in [0, 1] (a momentum), got " + format_number(v));
  };
  double d = 0;
  int64_t i = 0;
  switch (k.type) {
    case KeyType::number:
      if (!parse_number(text, d)) a.fail(k.name, "expects a number, got '" + text + "'");
      check_level(d);
      return format_number(d);
    case KeyType::integer:
      if (!parse_int(text, i)) a.fail(k.name, "expects an integer, got '" + text + "'");
      return std::to_string(i);
    case KeyType::boolean:
      if (text == "true" || text == "1") return "true";
      if (text == "false" || text == "0") return "false";
      a.fail(k.name, "expects true or false, got '" + text + "'");
    case KeyType::choice:
      if (std::find(k.choices.begin(), k.choices.end(), text) == k.choices.end())
        a.fail(k.name, "expects one of " + join(k.choices) + ", got '" + text + "'");
      return text;
    case KeyType::integers: {
      std::vector<std::string> out;
      if (text.empty()) a.fail(k.name, "expects at least one integer");
      for (const std::string& item : split(text, ';')) {
        if (!parse_int(item, i))
          a.fail(k.name, "expects integers separated by ';', got '" + text + "'");
        out.push_back(std::to_string(i));
      }
      return join(out, ";");
    }
    case KeyType::points: {
      std::vector<std::string> out;
      if (text.empty()) a.fail(k.name, "expects at least one iteration:value pair");
      for (const std::string& item : split(text, ';')) {
        size_t colon = item.find(':');
        if (colon == std::string::npos || !parse_int(trim(item.substr(0, colon)), i) ||
            !parse_number(trim(item.substr(colon + 1)), d))
          a.fail(k.name, "expects iteration:value pairs separated by ';', got '" + text + "'");
        check_level(d);
        out.push_back(std::to_string(i) + ":" + format_number(d));
      }
      return join(out, ";");
    }
  }
  return text;
}

class FunctionSchedule final : public Schedule {
 public:
  FunctionSchedule(Fn fn, std::string spec) : fn_(std::move(fn)), spec_(std::move(spec)) {}
  double value(int64_t it) const override { return fn_(std::max<int64_t>(it, 0)); }
  std::string spec() const override { return spec_; }

 private:
  Fn fn_;
  std::string spec_;
};

}  // namespace

std::vector<std::string> schedule_names() {
  std::vector<std::string> names;
  for (const ScheduleDef& d : all_schedules()) names.push_back(d.name);
  return names;
}

ScheduleSpec parse_schedule_spec(const std::string& text) {
  const std::string t = trim(text);
  MINIDL_CHECK(!t.empty(), "empty schedule spec (expected name:key=value,...)");
  double number = 0;
  if (parse_number(t, number)) return {"fixed", {{"value", t}}};
  ScheduleSpec spec;
  size_t colon = t.find(':');
  spec.name = trim(t.substr(0, colon));
  MINIDL_CHECK(!spec.name.empty(), "schedule spec '", t, "' has no name before ':'");
  std::string rest = colon == std::string::npos ? "" : trim(t.substr(colon + 1));
  if (rest.empty()) return spec;
  for (const std::string& item : split(rest, ',')) {
    size_t eq = item.find('=');
    std::string key = trim(item.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
    MINIDL_CHECK(eq != std::string::npos && !key.empty() && !value.empty(), "schedule spec '", t,
                 "': '", item, "' is not key=value");
    for (const auto& [k, v] : spec.params)
      MINIDL_CHECK(k != key, "schedule spec '", t, "': key '", key, "' is given twice");
    spec.params.push_back({key, value});
  }
  return spec;
}

std::unique_ptr<Schedule> make_schedule(const ScheduleSpec& spec, ScheduleRole role) {
  const std::string role_name = schedule_role_name(role);
  const auto& defs = all_schedules();
  auto def = std::find_if(defs.begin(), defs.end(),
                          [&](const ScheduleDef& d) { return d.name == spec.name; });
  if (def == defs.end())
    MINIDL_FAIL(role_name, " schedule '", spec.name,
                "' is unknown (known: ", join(schedule_names()), ")");
  Args args(role_name + " schedule '" + spec.name + "'");
  std::vector<std::string> key_names;
  for (const KeyDef& k : def->keys) key_names.push_back(k.name);
  std::map<std::string, std::string> given;
  for (const auto& [key, value] : spec.params) {
    if (std::find(key_names.begin(), key_names.end(), key) == key_names.end())
      args.fail(key, "is unknown (known keys: " + join(key_names) + ")");
    given[key] = value;
  }
  std::string canonical = spec.name;
  for (const KeyDef& k : def->keys) {
    auto it = given.find(k.name);
    if (it == given.end() && !k.fallback)
      args.fail(k.name, "is missing (keys: " + join(key_names) + ")");
    std::string value = canonical_value(args, k, it != given.end() ? it->second : k.fallback, role);
    args.set(k.name, value);
    canonical += (canonical == spec.name ? ":" : ",") + k.name + "=" + value;
  }
  return std::make_unique<FunctionSchedule>(def->make(args), canonical);
}

std::unique_ptr<Schedule> parse_schedule(const std::string& text, ScheduleRole role) {
  return make_schedule(parse_schedule_spec(text), role);
}

}  // namespace minidl
