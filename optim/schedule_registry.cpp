// The table of built-in schedules: one entry per name, with its keys (types, defaults) and the
// formula it builds (optim/schedule_formulas.h). Adding a schedule = one entry here; a plugin's
// (core/plugin.h) = one register_schedule call.
#include <set>

#include "optim/schedule_formulas.h"
#include "optim/schedule_registry.h"

namespace minidl {
namespace schedule_registry {
namespace {

KeyDef num(const std::string& name, const char* fallback = nullptr, bool level = false) {
  return {name, KeyType::number, fallback, level};
}
KeyDef level(const std::string& name, const char* fallback = nullptr) {
  return num(name, fallback, true);
}
KeyDef integer(const std::string& name, const char* fallback = nullptr) {
  return {name, KeyType::integer, fallback};
}

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

}  // namespace

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

static std::vector<ScheduleDef>& table() {
  static std::vector<ScheduleDef> all = builtin_schedules();
  return all;
}

const std::vector<ScheduleDef>& all_schedules() { return table(); }

void register_schedule(ScheduleDef def) {
  MINIDL_CHECK(!def.name.empty() && def.name.find_first_of(":,= ") == std::string::npos,
               "schedule registry: '", def.name, "' is not a schedule name (no ':', ',', '=' or spaces)");
  MINIDL_CHECK(def.make != nullptr, "schedule registry: '", def.name, "' has no formula");
  for (const ScheduleDef& d : table())
    MINIDL_CHECK(d.name != def.name, "schedule '", def.name, "' is registered twice");
  table().push_back(std::move(def));
}

}  // namespace schedule_registry
}  // namespace minidl
