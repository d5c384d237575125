#include "optim/range_test.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "core/file_io.h"
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
                               const RangeTestOptions& o) {
  MINIDL_CHECK(o.iterations > 0, "range test: iterations must be positive, got ", o.iterations);
  MINIDL_CHECK(o.max_lr > o.min_lr && o.min_lr >= 0, "range test: need 0 <= min_lr < max_lr, got ",
               o.min_lr, " and ", o.max_lr);
  MINIDL_CHECK(o.mode == RangeTestOptions::linear || o.min_lr > 0,
               "range test: the exponential sweep needs min_lr > 0");
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
  Solver solver(model, loss, optimizer, *lr, momentum, train, nullptr, so);
  RangeTestResult r;
  r.stop_reason = "completed the sweep";
  double best_smoothed = INFINITY;
  SoftmaxCrossEntropy plain;  // the test loss: plain cross-entropy
  solver.on_iteration([&](const IterationRecord& info) {
    RangeTestPoint p;
    p.iteration = info.iteration;
    p.lr = info.lr;
    p.loss = info.loss;
    p.smoothed = info.smoothed_loss;
    if (!std::isfinite(info.loss)) {
      r.stop_reason = "diverged: non-finite loss at lr " + num(info.lr);
      r.points.push_back(p);
      return false;
    }
    if (o.mode == RangeTestOptions::linear && test &&
        (info.iteration % o.eval_every == 0 || info.iteration == 1)) {
      EvalResult e = evaluate(model, plain, *test, o.eval_batches);
      p.test_loss = e.loss;
      p.test_acc = e.top1;
    }
    r.points.push_back(p);
    best_smoothed = std::min(best_smoothed, info.smoothed_loss);
    if (info.iteration > 10 && info.smoothed_loss > o.stop_factor * best_smoothed) {
      r.stop_reason = "stopped: smoothed loss " + num(info.smoothed_loss) + " above " +
                      num(o.stop_factor) + "x its minimum " + num(best_smoothed) + " at lr " +
                      num(info.lr);
      return false;
    }
    return true;
  });
  std::fprintf(stdout, "range test (%s): lr %s -> %s over %lld iterations\n",
               range_test_mode_name(o.mode), num(o.min_lr).c_str(), num(o.max_lr).c_str(),
               static_cast<long long>(o.iterations));
  solver.run();

  // ---- suggestions ----
  if (o.mode == RangeTestOptions::linear) {
    const RangeTestPoint* best = nullptr;
    for (const RangeTestPoint& p : r.points)
      if (!std::isnan(p.test_acc) && (!best || p.test_acc > best->test_acc)) best = &p;
    if (best && best == &r.points.front()) {
      r.rule =
          "no suggestion: test accuracy was highest at the first evaluation (raise --max-lr or "
          "train longer)";
    } else if (best) {
      r.suggested_max_lr = best->lr;
      r.rule = "max LR = " + num(best->lr) + ", where test accuracy peaks (" +
               num(100 * best->test_acc) + "%); min LR = max / 10";
    }
  } else {
    const RangeTestPoint* best = nullptr;
    for (const RangeTestPoint& p : r.points)
      if (std::isfinite(p.smoothed) && (!best || p.smoothed < best->smoothed)) best = &p;
    if (best) {
      r.suggested_max_lr = best->lr / 10;
      r.rule = "max LR = " + num(best->lr) +
               " / 10, a tenth of the LR at the smoothed loss's minimum (" + num(best->smoothed) +
               "); min LR = max / 10";
    }
  }
  if (!std::isnan(r.suggested_max_lr)) r.suggested_min_lr = r.suggested_max_lr / 10;

  if (o.restore) {
    model.load_state_dict(model_state);
    optimizer.load_state_dict(opt_state);
    train.set_position(position);
  }
  return r;
}

void write_range_test(const std::string& dir, const RangeTestOptions& o, const RangeTestResult& r) {
  std::filesystem::create_directories(dir);
  std::ostringstream csv;
  csv << "lr,iteration,train_loss,smoothed_loss,test_loss,test_acc\n";
  auto cell = [](double v) {
    if (std::isnan(v)) return std::string();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  for (const RangeTestPoint& p : r.points)
    csv << cell(p.lr) << ',' << p.iteration << ',' << cell(p.loss) << ',' << cell(p.smoothed) << ','
        << cell(p.test_loss) << ',' << cell(p.test_acc) << '\n';
  write_file_atomic(dir + "/range_test.csv", csv.str());
  nlohmann::json j = {
      {"mode", range_test_mode_name(o.mode)},
      {"min_lr", o.min_lr},
      {"max_lr", o.max_lr},
      {"iterations", o.iterations},
      {"suggested_max_lr",
       std::isnan(r.suggested_max_lr) ? nlohmann::json() : nlohmann::json(r.suggested_max_lr)},
      {"suggested_min_lr",
       std::isnan(r.suggested_min_lr) ? nlohmann::json() : nlohmann::json(r.suggested_min_lr)},
      {"rule", r.rule},
      {"stop_reason", r.stop_reason}};
  write_file_atomic(dir + "/range_test.json", j.dump(2) + "\n");
}

}  // namespace minidl
