// The schedule registry: names, keys (types, defaults), validation and the flag grammar.
// One explicit registry function (builtin_schedules); an unknown name or key lists the known ones.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "optim/schedule.h"
#include "optim/schedule_formulas.h"

namespace minidl {
namespace {

using Fn = std::function<double(int64_t)>;
using Points = std::vector<std::pair<int64_t, double>>;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(trim(item));
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno == 0 && std::isfinite(out);
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoll(text.c_str(), &end, 10);
  return end == text.c_str() + text.size() && errno == 0;
}

// The shortest decimal that reads back as the same double (whole numbers without an exponent).
std::string format_double(double v) {
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

enum class KeyType { number, integer, boolean, choice, integers, points };

struct KeyDef {
  std::string name;
  KeyType type;
  const char* fallback = nullptr;  // default value; nullptr: the key is required
  bool level = false;              // a value the schedule outputs: lr >= 0, momentum in [0, 1]
  std::vector<std::string> choices = {};
};

KeyDef num(const std::string& name, const char* fallback = nullptr, bool level = false) {
  return {name, KeyType::number, fallback, level};
}
KeyDef level(const std::string& name, const char* fallback = nullptr) {
  return num(name, fallback, true);
}
KeyDef integer(const std::string& name, const char* fallback = nullptr) {
  return {name, KeyType::integer, fallback};
}

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
    parse_double(text(key), v);
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
    for (const std::string& item : split(text(key), ';')) out.push_back(std::stoll(item));
    return out;
  }
  Points points(const std::string& key) const {
    Points out;
    for (const std::string& item : split(text(key), ';')) {
      size_t colon = item.find(':');
      out.push_back(
          {std::stoll(item.substr(0, colon)), std::strtod(item.c_str() + colon + 1, nullptr)});
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

Fn make_clr(const Args& a, schedules::ClrDecay decay) {
  a.not_above("base", "max");
  double base = a.number("base"), max = a.number("max");
  double gamma = decay == schedules::ClrDecay::exp_per_iteration ? a.above_zero("gamma") : 1.0;
  int64_t ss = a.positive("ss"), cycles = a.integer("cycles");
  if (cycles < 0) a.fail("cycles", "must be >= 0 (0: no limit), got " + a.text("cycles"));
  return [=](int64_t it) { return schedules::triangular(base, max, ss, decay, gamma, cycles, it); };
}

schedules::TorchOneCycle make_torch_onecycle(const Args& a, double max_lr, double div,
                                             double final_div, double base_m, double max_m) {
  int64_t total = a.positive("total_steps");
  double pct = a.number("pct_start");
  if (!(pct >= 0 && pct <= 1))
    a.fail("pct_start", "must lie in [0, 1], got " + a.text("pct_start"));
  schedules::TorchOneCycle s(max_lr, total, pct, a.text("anneal_strategy") == "cos", div, final_div,
                             a.flag("three_phase"), base_m, max_m);
  if (!(s.shortest_phase() > 0))
    a.fail("pct_start", "(" + a.text("pct_start") + ") leaves a phase of total_steps " +
                            a.text("total_steps") + " without steps (PyTorch divides by zero)");
  return s;
}

const std::vector<ScheduleDef>& builtin_schedules() {
  using namespace schedules;
  const KeyDef anneal{"anneal_strategy", KeyType::choice, "cos", false, {"cos", "linear"}};
  const KeyDef three{"three_phase", KeyType::boolean, "false"};
  static const std::vector<ScheduleDef> defs = {
      {"fixed",
       {level("value")},
       [](const Args& a) -> Fn {
         double v = a.number("value");
         return [=](int64_t) { return v; };
       }},
      {"step",
       {level("base"), num("gamma"), integer("stepsize")},
       [](const Args& a) -> Fn {
         double base = a.number("base"), gamma = a.above_zero("gamma");
         int64_t s = a.positive("stepsize");
         return [=](int64_t it) { return caffe_step(base, gamma, s, it); };
       }},
      {"multistep",
       {level("base"), num("gamma"), {"steps", KeyType::integers}},
       [](const Args& a) -> Fn {
         double base = a.number("base"), gamma = a.above_zero("gamma");
         std::vector<int64_t> steps = a.integers("steps");
         for (size_t i = 0; i < steps.size(); ++i)
           if (steps[i] < 0 || (i > 0 && steps[i] <= steps[i - 1]))
             a.fail("steps", "must be increasing iterations >= 0, got " + a.text("steps"));
         return [=](int64_t it) { return caffe_multistep(base, gamma, steps, it); };
       }},
      {"exp",
       {level("base"), num("gamma")},
       [](const Args& a) -> Fn {
         double base = a.number("base"), gamma = a.above_zero("gamma");
         return [=](int64_t it) { return caffe_exp(base, gamma, it); };
       }},
      {"inv",
       {level("base"), num("gamma"), num("power")},
       [](const Args& a) -> Fn {
         double base = a.number("base"), gamma = a.at_least_zero("gamma");
         double power = a.at_least_zero("power");
         return [=](int64_t it) { return caffe_inv(base, gamma, power, it); };
       }},
      {"poly",
       {level("base"), num("power"), integer("max_iter")},
       [](const Args& a) -> Fn {
         double base = a.number("base"), power = a.at_least_zero("power");
         int64_t max_iter = a.positive("max_iter");
         return [=](int64_t it) { return caffe_poly(base, power, max_iter, it); };
       }},
      {"cosine",
       {level("base"), level("min", "0"), integer("max_iter"), integer("warmup", "0"),
        level("warmup_start", "0")},
       [](const Args& a) -> Fn {
         a.not_above("min", "base");
         double base = a.number("base"), min = a.number("min"), start = a.number("warmup_start");
         int64_t max_iter = a.positive("max_iter"), warmup = a.integer("warmup");
         if (warmup < 0 || warmup >= max_iter)
           a.fail("warmup", "must lie in [0, max_iter), got " + a.text("warmup"));
         return [=](int64_t it) { return cosine(base, min, max_iter, warmup, start, it); };
       }},
      {"triangular",
       {level("base"), level("max"), integer("ss"), integer("cycles", "0")},
       [](const Args& a) { return make_clr(a, ClrDecay::none); }},
      {"triangular2",
       {level("base"), level("max"), integer("ss"), integer("cycles", "0")},
       [](const Args& a) { return make_clr(a, ClrDecay::halve_per_cycle); }},
      {"exp-range",
       {level("base"), level("max"), integer("ss"), num("gamma"), integer("cycles", "0")},
       [](const Args& a) { return make_clr(a, ClrDecay::exp_per_iteration); }},
      {"onecycle-smith",
       {level("base"), level("max"), integer("ss")},
       [](const Args& a) -> Fn {
         a.not_above("base", "max");
         double base = a.number("base"), max = a.number("max");
         int64_t ss = a.positive("ss");
         return [=](int64_t it) { return smith_onecycle(base, max, ss, it); };
       }},
      {"onecycle-torch",
       {level("max_lr"), integer("total_steps"), num("pct_start", "0.3"), anneal,
        num("div_factor", "25"), num("final_div_factor", "10000"), three},
       [](const Args& a) -> Fn {
         TorchOneCycle s = make_torch_onecycle(a, a.number("max_lr"), a.above_zero("div_factor"),
                                               a.above_zero("final_div_factor"), 0.85, 0.95);
         return [=](int64_t it) { return s.lr(it); };
       }},
      {"onecycle-torch-momentum",
       {level("base_momentum", "0.85"), level("max_momentum", "0.95"), integer("total_steps"),
        num("pct_start", "0.3"), anneal, three},
       [](const Args& a) -> Fn {
         TorchOneCycle s = make_torch_onecycle(a, 1.0, 25.0, 1e4, a.number("base_momentum"),
                                               a.number("max_momentum"));
         return [=](int64_t it) { return s.momentum(it); };
       }},
      {"cyclic-momentum-smith",
       {level("max"),
        level("min"),
        integer("ss"),
        {"direction", KeyType::choice, "down", false, {"down", "up"}}},
       [](const Args& a) -> Fn {
         a.not_above("min", "max");
         double max = a.number("max"), min = a.number("min");
         int64_t ss = a.positive("ss");
         if (a.text("direction") == "up") std::swap(max, min);  // starts at min, peaks at max
         return [=](int64_t it) { return smith_cyclic_momentum(max, min, ss, it); };
       }},
      {"linear-sweep",
       {level("start"), level("end"), integer("iters")},
       [](const Args& a) -> Fn {
         double start = a.number("start"), end = a.number("end");
         int64_t n = a.positive("iters");
         return [=](int64_t it) { return linear_sweep(start, end, n, it); };
       }},
      {"exp-sweep",
       {level("start"), level("end"), integer("iters")},
       [](const Args& a) -> Fn {
         double start = a.above_zero("start"), end = a.above_zero("end");
         int64_t n = a.positive("iters");
         return [=](int64_t it) { return exp_sweep(start, end, n, it); };
       }},
      {"piecewise",
       {{"points", KeyType::points, nullptr, true}},
       [](const Args& a) -> Fn {
         Points p = a.points("points");
         for (size_t i = 0; i < p.size(); ++i)
           if (p[i].first < 0 || (i > 0 && p[i].first <= p[i - 1].first))
             a.fail("points", "iterations must be increasing and >= 0, got " + a.text("points"));
         return [=](int64_t it) { return piecewise_linear(p, it); };
       }},
  };
  static const bool unique = [] {
    std::set<std::string> seen;
    for (const ScheduleDef& d : defs)
      MINIDL_CHECK(seen.insert(d.name).second, "schedule registry: '", d.name,
                   "' registered twice");
    return true;
  }();
  (void)unique;
  return defs;
}

// Checks `text` against the key's type and returns its canonical form; fails naming the key.
std::string canonical_value(const Args& a, const KeyDef& k, const std::string& text,
                            ScheduleRole role) {
  auto check_level = [&](double v) {
    if (!k.level) return;
    if (role == ScheduleRole::lr && !(v >= 0))
      a.fail(k.name, "must be >= 0 (a learning rate), got " + format_double(v));
    if (role == ScheduleRole::momentum && !(v >= 0 && v <= 1))
      a.fail(k.name, "must lie in [0, 1] (a momentum), got " + format_double(v));
  };
  double d = 0;
  int64_t i = 0;
  switch (k.type) {
    case KeyType::number:
      if (!parse_double(text, d)) a.fail(k.name, "expects a number, got '" + text + "'");
      check_level(d);
      return format_double(d);
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
            !parse_double(trim(item.substr(colon + 1)), d))
          a.fail(k.name, "expects iteration:value pairs separated by ';', got '" + text + "'");
        check_level(d);
        out.push_back(std::to_string(i) + ":" + format_double(d));
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
  for (const ScheduleDef& d : builtin_schedules()) names.push_back(d.name);
  return names;
}

ScheduleSpec parse_schedule_spec(const std::string& text) {
  const std::string t = trim(text);
  MINIDL_CHECK(!t.empty(), "empty schedule spec (expected name:key=value,...)");
  double number = 0;
  if (parse_double(t, number)) return {"fixed", {{"value", t}}};
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
  const auto& defs = builtin_schedules();
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
