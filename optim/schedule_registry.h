// The schedule registry's internals, shared by its two files: schedule_registry.cpp (the table of
// every built-in schedule: names, keys, validation, formula) and schedule_spec.cpp (the flag
// grammar, canonical values and make_schedule). Users see optim/schedule.h; a plugin that adds a
// schedule (core/plugin.h) writes a ScheduleDef and calls register_schedule.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/text.h"
#include "optim/schedule.h"

namespace minidl {
namespace schedule_registry {

using Fn = std::function<double(int64_t)>;
using Points = std::vector<std::pair<int64_t, double>>;

enum class KeyType { number, integer, boolean, choice, integers, points };

struct KeyDef {
  std::string name;
  KeyType type;
  const char* fallback = nullptr;  // default value; nullptr: the key is required
  bool level = false;              // a value the schedule outputs: lr >= 0, momentum in [0, 1]
  std::vector<std::string> choices = {};
};

// The checked values of one spec, typed; every error names the schedule and the key.
class Args {
 public:
  explicit Args(std::string context) : context_(std::move(context)) {}
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    MINIDL_FAIL(context_, ": key '", key, "' ", message);
  }
  void set(const std::string& key, std::string text) { text_[key] = std::move(text); }
  const std::string& text(const std::string& key) const { return text_.at(key); }
  double number(const std::string& key) const {
    double v = 0;
    parse_number(text(key), v);
    return v;
  }
  int64_t integer(const std::string& key) const {
    int64_t v = 0;
    parse_int(text(key), v);
    return v;
  }
  bool flag(const std::string& key) const { return text(key) == "true"; }
  std::vector<int64_t> integers(const std::string& key) const {
    std::vector<int64_t> out;
    for (const std::string& item : split(text(key), ';')) {
      int64_t v = 0;
      parse_int(item, v);  // canonical_value checked every item
      out.push_back(v);
    }
    return out;
  }
  Points points(const std::string& key) const {
    Points out;
    for (const std::string& item : split(text(key), ';')) {
      size_t colon = item.find(':');
      int64_t it = 0;
      double v = 0;
      parse_int(item.substr(0, colon), it);  // canonical_value checked every pair
      parse_number(item.substr(colon + 1), v);
      out.push_back({it, v});
    }
    return out;
  }
  // Common conditions.
  int64_t positive(const std::string& key) const {
    if (integer(key) <= 0) fail(key, "must be > 0, got " + text(key));
    return integer(key);
  }
  double above_zero(const std::string& key) const {
    if (!(number(key) > 0)) fail(key, "must be > 0, got " + text(key));
    return number(key);
  }
  double at_least_zero(const std::string& key) const {
    if (!(number(key) >= 0)) fail(key, "must be >= 0, got " + text(key));
    return number(key);
  }
  void not_above(const std::string& low, const std::string& high) const {
    if (number(low) > number(high))
      fail(low, "(" + text(low) + ") must not exceed key '" + high + "' (" + text(high) + ")");
  }

 private:
  std::string context_;
  std::map<std::string, std::string> text_;
};

struct ScheduleDef {
  std::string name;
  std::vector<KeyDef> keys;
  std::function<Fn(const Args&)> make;  // validates what the key types cannot, returns the formula
};

// Every built-in schedule, in the order `minidl_train schedule --help` lists them.
const std::vector<ScheduleDef>& builtin_schedules();
// The built-ins, then the schedules plugins registered: what make_schedule looks names up in.
const std::vector<ScheduleDef>& all_schedules();
// Adds a schedule; throws if its name is taken (a built-in's included), malformed or it has no
// formula. Called from a plugin's registration, before any schedule is made from it.
void register_schedule(ScheduleDef def);

}  // namespace schedule_registry
}  // namespace minidl
