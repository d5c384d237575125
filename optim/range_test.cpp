#include "optim/range_test.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "core/file_io.h"
#include "optim/precise_bn.h"
#include "optim/solver.h"

namespace minidl {

const char* range_test_mode_name(RangeTestOptions::Mode mode) {
  return mode == RangeTestOptions::linear ? "linear" : "exp";
}

static std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

RangeTestResult run_range_test(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer,
                               const Schedule& momentum, Loader& train, Loader* test,
                               const RangeTestOptions& o, Loader* bn_data) {
  MINIDL_CHECK(o.iterations > 0, "range test: iterations must be positive, got ", o.iterations);
  MINIDL_CHECK(o.max_lr > o.min_lr && o.min_lr >= 0, "range test: need 0 <= min_lr < max_lr, got ",
               o.min_lr, " and ", o.max_lr);
  MINIDL_CHECK(o.mode == RangeTestOptions::linear || o.min_lr > 0,
               "range test: the exponential sweep needs min_lr > 0");
  MINIDL_CHECK(o.smooth >= 1 && o.smooth % 2 == 1,
               "range test: smooth must be odd and positive, got ", o.smooth);
  MINIDL_CHECK(o.margin > 0, "range test: margin must be positive, got ", o.margin);
  MINIDL_CHECK(o.edge_fraction > 0 && o.edge_fraction <= 1,
               "range test: edge fraction must be in (0, 1], got ", o.edge_fraction);
  MINIDL_CHECK(o.bn_batches == 0 || bn_data != &train,
               "range test: PreciseBN needs a loader of its own, not the training loader");
  // Snapshot what the test changes, to restore it at the end.
  std::map<std::string, Tensor> model_state, opt_state;
  for (auto& [name, t] : model.state_dict()) model_state[name] = t.clone();
  for (auto& [name, t] : optimizer.state_dict()) opt_state[name] = t.clone();
  LoaderPosition position = train.position();

  std::string spec =
      std::string(o.mode == RangeTestOptions::linear ? "linear-sweep" : "exp-sweep") +
      ":start=" + num(o.min_lr) + ",end=" + num(o.max_lr) +
      ",iters=" + std::to_string(o.iterations);
  std::unique_ptr<Schedule> lr = parse_schedule(spec, ScheduleRole::lr);

  SolverOptions so;
  so.max_iter = o.iterations + 1;  // the sweep reaches max_lr at iteration `iterations`
  so.divergence_factor = 1e30;     // the range test decides when to stop
  so.dynamic_loss_scale = o.dynamic_loss_scale;
  Solver solver(model, loss, optimizer, *lr, momentum, train, nullptr, so);
  RangeTestResult r;
  r.stop_reason = "completed the sweep";
  double best_smoothed = INFINITY;
  SoftmaxCrossEntropy plain;  // the test loss: plain cross-entropy
  const bool precise_bn = o.bn_batches > 0 && bn_data && has_running_batchnorm(model);
  solver.on_iteration([&](const IterationRecord& info) {
    RangeTestPoint p;
    p.iteration = info.iteration;
    p.lr = info.lr;
    p.loss = info.loss;
    p.smoothed = info.smoothed_loss;
    // Where the sweep stops early, the loss rose: in linear mode that point joins the test curve
    // as +inf, so the rule sees the rise even when it came between two test points.
    const bool scored = o.mode == RangeTestOptions::linear && test;
    if (!std::isfinite(info.loss)) {
      r.stop_reason = "diverged: non-finite loss at lr " + num(info.lr);
      if (scored) p.test_loss = INFINITY;
      r.points.push_back(p);
      return false;
    }
    if (scored && (info.iteration % o.eval_every == 0 || info.iteration == 1)) {
      // PreciseBN changes only buffers; they go back as they were, so the sweep's own trajectory
      // is the same with and without it.
      std::vector<Tensor> saved;
      if (precise_bn) {
        saved = snapshot_buffers(model);
        recompute_batchnorm_statistics(model, *bn_data, o.bn_batches);
      }
      EvalResult e = evaluate(model, plain, *test, o.eval_batches);
      if (precise_bn) restore_buffers(model, saved);
      p.test_loss = e.loss;
      p.test_acc = e.top1;
    }
    best_smoothed = std::min(best_smoothed, info.smoothed_loss);
    if (info.iteration > 10 && info.smoothed_loss > o.stop_factor * best_smoothed) {
      r.stop_reason = "stopped: smoothed loss " + num(info.smoothed_loss) + " above " +
                      num(o.stop_factor) + "x its minimum " + num(best_smoothed) + " at lr " +
                      num(info.lr);
      if (scored) p.test_loss = INFINITY, p.test_acc = NAN;
      r.points.push_back(p);
      return false;
    }
    r.points.push_back(p);
    return true;
  });
  std::fprintf(stdout, "range test (%s): lr %s -> %s over %lld iterations%s\n",
               range_test_mode_name(o.mode), num(o.min_lr).c_str(), num(o.max_lr).c_str(),
               static_cast<long long>(o.iterations),
               precise_bn ? (", PreciseBN on " + std::to_string(o.bn_batches) +
                             " training batches before each test point")
                                .c_str()
                          : "");
  solver.run();

  // ---- suggestions ----
  if (o.mode == RangeTestOptions::linear) {
    std::vector<RangeTestPoint*> tested;
    for (RangeTestPoint& p : r.points)
      if (!std::isnan(p.test_loss)) tested.push_back(&p);
    std::vector<double> lrs, losses;
    for (RangeTestPoint* p : tested) lrs.push_back(p->lr), losses.push_back(p->test_loss);
    std::vector<double> smoothed = smooth_centered(losses, o.smooth);
    for (size_t i = 0; i < tested.size(); ++i) tested[i]->smoothed_test_loss = smoothed[i];
    r.suggestion = suggest_from_test_loss(lrs, smoothed, o.margin, o.edge_fraction);
    const RangeTestPoint* peak = nullptr;
    for (RangeTestPoint* p : tested)
      if (!std::isnan(p->test_acc) && (!peak || p->test_acc > peak->test_acc)) peak = p;
    if (peak) r.accuracy_peak_lr = peak->lr;
  } else {
    const RangeTestPoint* best = nullptr;
    for (const RangeTestPoint& p : r.points)
      if (std::isfinite(p.smoothed) && (!best || p.smoothed < best->smoothed)) best = &p;
    if (best) {
      r.suggestion.max_lr = best->lr / 10;
      r.suggestion.min_lr = r.suggestion.max_lr / 10;
      r.suggestion.rule = "max LR = " + num(best->lr) +
                          " / 10, a tenth of the LR at the smoothed loss's minimum (" +
                          num(best->smoothed) + "); min LR = max / 10";
    }
  }

  if (o.restore) {
    model.load_state_dict(model_state);
    optimizer.load_state_dict(opt_state);
    train.set_position(position);
  }
  return r;
}

std::vector<double> smooth_centered(const std::vector<double>& v, int64_t window) {
  MINIDL_CHECK(window >= 1 && window % 2 == 1, "smooth_centered: window must be odd, got ", window);
  const int64_t n = static_cast<int64_t>(v.size()), half = window / 2;
  std::vector<double> out(v.size());
  for (int64_t i = 0; i < n; ++i) {
    // Symmetric around i: near the ends the window shrinks on both sides, so a point is never
    // pulled toward values on one side only (a one-sided window would shift the minimum).
    const int64_t h = std::min({half, i, n - 1 - i});
    if (!std::isfinite(v[i])) {
      out[i] = v[i];
      continue;
    }
    double sum = 0;
    int64_t count = 0;
    for (int64_t j = i - h; j <= i + h; ++j)
      if (std::isfinite(v[j])) sum += v[j], ++count;
    out[i] = sum / static_cast<double>(count);
  }
  return out;
}

LrSuggestion suggest_from_test_loss(const std::vector<double>& lr, const std::vector<double>& L,
                                    double margin, double edge_fraction) {
  MINIDL_CHECK(lr.size() == L.size(), "suggest_from_test_loss: ", lr.size(), " LRs but ", L.size(),
               " losses");
  MINIDL_CHECK(edge_fraction > 0 && edge_fraction <= 1,
               "suggest_from_test_loss: edge fraction must be in (0, 1], got ", edge_fraction);
  LrSuggestion s;
  const size_t n = L.size();
  size_t m = n;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(L[i]) && (m == n || L[i] < L[m])) m = i;
  if (m == n) {
    s.rule = "no suggestion: no finite test loss";
    return s;
  }
  if (m == 0) {
    s.rule = "no suggestion: the smoothed test loss was lowest at the first point (lower --min-lr)";
    return s;
  }
  // Scan from where the curve first comes within the margin of its minimum (before that it is
  // still falling from the untrained loss, and its noise is no rise), keeping the lowest value so
  // far; max LR is where the curve first rises the margin above it. A later, lower minimum after
  // a recovered spike does not move the answer past that spike.
  const double band = L[m] * (1 + margin);
  // Where the curve crosses `limit` between points a and b; a non-finite b (diverged) at a.
  auto crossing = [&](size_t a, size_t b, double limit) {
    if (!std::isfinite(L[b])) return lr[a];
    return lr[a] + (lr[b] - lr[a]) * (limit - L[a]) / (L[b] - L[a]);
  };
  size_t entry = 0;
  while (!(L[entry] <= band)) ++entry;  // ends at m at the latest
  double lowest = L[entry];
  size_t low_at = entry;
  size_t i = entry + 1;
  for (; i < n && L[i] <= lowest * (1 + margin); ++i)
    if (L[i] < lowest) lowest = L[i], low_at = i;
  if (i == n) {
    s.rule = "no suggestion: the smoothed test loss did not rise " + num(100 * margin) +
             "% above its lowest value " + num(lowest) + " (at lr " + num(lr[low_at]) +
             ") before the sweep ended (raise --max-lr)";
    return s;
  }
  s.flat_to = crossing(i - 1, i, lowest * (1 + margin));
  s.max_lr = edge_fraction * s.flat_to;
  s.min_lr = s.max_lr / 10;
  s.flat_from = entry > 0 ? crossing(entry - 1, entry, band) : lr[0];
  s.rule = "max LR = " + num(s.max_lr) + " = " + num(edge_fraction) + " x " + num(s.flat_to) +
           ", the edge where the smoothed test loss first rises " + num(100 * margin) +
           "% above its lowest value so far " + num(lowest) + " (at lr " + num(lr[low_at]) +
           "), having come within " + num(100 * margin) + "% of its minimum " + num(L[m]) +
           " at lr " + num(s.flat_from) + "; min LR = max / 10";
  return s;
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

RangeTestReport combine_range_tests(std::vector<RangeTestResult> repeats,
                                    std::vector<uint64_t> seeds, const RangeTestOptions& o) {
  MINIDL_CHECK(!repeats.empty() && repeats.size() == seeds.size(),
               "combine_range_tests: need one seed per repeat and at least one repeat");
  RangeTestReport rep;
  rep.repeats = std::move(repeats);
  rep.seeds = std::move(seeds);
  if (rep.repeats.size() == 1) {
    rep.suggestion = rep.repeats[0].suggestion;
  } else if (o.mode == RangeTestOptions::linear) {
    // Test points sit at the same iterations in every repeat (1, eval_every, 2 eval_every, ...);
    // a repeat that stopped early counts as +inf from there (it diverged: the loss rose).
    std::vector<std::vector<const RangeTestPoint*>> tested(rep.repeats.size());
    size_t n = 0;
    for (size_t k = 0; k < rep.repeats.size(); ++k) {
      for (const RangeTestPoint& p : rep.repeats[k].points)
        if (!std::isnan(p.smoothed_test_loss)) tested[k].push_back(&p);
      n = std::max(n, tested[k].size());
    }
    std::vector<std::pair<double, double>> sum(n, {NAN, 0.0});  // per point: lr, sum of losses
    for (const auto& points : tested)
      for (size_t i = 0; i < n; ++i) {
        if (i < points.size()) sum[i].first = points[i]->lr;
        sum[i].second += i < points.size() ? points[i]->smoothed_test_loss : INFINITY;
      }
    for (auto& [lr, total] : sum) {
      rep.curve_lr.push_back(lr);
      rep.curve_loss.push_back(total / static_cast<double>(rep.repeats.size()));
    }
    rep.suggestion =
        suggest_from_test_loss(rep.curve_lr, rep.curve_loss, o.margin, o.edge_fraction);
    if (!std::isnan(rep.suggestion.max_lr))
      rep.suggestion.rule += " (on the mean of " + std::to_string(rep.repeats.size()) +
                             " repeats' smoothed test losses)";
  } else {
    std::vector<double> each;
    for (const RangeTestResult& r : rep.repeats)
      if (!std::isnan(r.suggestion.max_lr)) each.push_back(r.suggestion.max_lr);
    if (!each.empty()) {
      rep.suggestion.max_lr = median(each);
      rep.suggestion.min_lr = rep.suggestion.max_lr / 10;
      rep.suggestion.rule = "max LR = " + num(rep.suggestion.max_lr) + ", the median of " +
                            std::to_string(each.size()) +
                            " repeats' suggestions (each a tenth of the LR at its smoothed loss's "
                            "minimum); min LR = max / 10";
    } else {
      rep.suggestion.rule = "no suggestion: no repeat made one";
    }
  }
  if (rep.curve_lr.empty() && o.mode == RangeTestOptions::linear) {
    for (const RangeTestPoint& p : rep.repeats[0].points)
      if (!std::isnan(p.smoothed_test_loss))
        rep.curve_lr.push_back(p.lr), rep.curve_loss.push_back(p.smoothed_test_loss);
  }
  return rep;
}

void write_range_test(const std::string& dir, const RangeTestOptions& o,
                      const RangeTestReport& rep) {
  std::filesystem::create_directories(dir);
  auto cell = [](double v) {
    if (std::isnan(v)) return std::string();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  auto value = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  std::ostringstream csv;
  csv << "repeat,seed,lr,iteration,train_loss,smoothed_loss,test_loss,test_acc,smoothed_test_"
         "loss\n";
  nlohmann::json each = nlohmann::json::array();
  std::vector<double> suggested;
  for (size_t k = 0; k < rep.repeats.size(); ++k) {
    const RangeTestResult& r = rep.repeats[k];
    for (const RangeTestPoint& p : r.points)
      csv << k << ',' << rep.seeds[k] << ',' << cell(p.lr) << ',' << p.iteration << ','
          << cell(p.loss) << ',' << cell(p.smoothed) << ',' << cell(p.test_loss) << ','
          << cell(p.test_acc) << ',' << cell(p.smoothed_test_loss) << '\n';
    each.push_back({{"seed", rep.seeds[k]},
                    {"suggested_max_lr", value(r.suggestion.max_lr)},
                    {"flat_from", value(r.suggestion.flat_from)},
                    {"edge", value(r.suggestion.flat_to)},
                    {"accuracy_peak_lr", value(r.accuracy_peak_lr)},
                    {"rule", r.suggestion.rule},
                    {"stop_reason", r.stop_reason}});
    if (!std::isnan(r.suggestion.max_lr)) suggested.push_back(r.suggestion.max_lr);
  }
  write_file_atomic(dir + "/range_test.csv", csv.str());
  nlohmann::json spread;
  if (!suggested.empty()) {
    spread = {{"min", *std::min_element(suggested.begin(), suggested.end())},
              {"median", median(suggested)},
              {"max", *std::max_element(suggested.begin(), suggested.end())},
              {"n", suggested.size()}};
  }
  nlohmann::json j = {
      {"mode", range_test_mode_name(o.mode)},
      {"min_lr", o.min_lr},
      {"max_lr", o.max_lr},
      {"iterations", o.iterations},
      {"eval_every", o.eval_every},
      {"eval_batches", o.eval_batches},
      {"bn_batches", o.bn_batches},
      {"smooth", o.smooth},
      {"margin", o.margin},
      {"edge_fraction", o.edge_fraction},
      {"suggested_max_lr", value(rep.suggestion.max_lr)},
      {"suggested_min_lr", value(rep.suggestion.min_lr)},
      {"flat_from", value(rep.suggestion.flat_from)},
      {"edge", value(rep.suggestion.flat_to)},
      {"rule", rep.suggestion.rule},
      {"stop_reason", rep.repeats.front().stop_reason},
      {"repeats", each},
      {"spread", spread},
      {"curve", {{"lr", rep.curve_lr}, {"smoothed_test_loss", nlohmann::json::array()}}}};
  for (double v : rep.curve_loss) j["curve"]["smoothed_test_loss"].push_back(value(v));
  write_file_atomic(dir + "/range_test.json", j.dump(2) + "\n");
}

}  // namespace minidl
