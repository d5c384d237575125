// The stages of `minidl_train tune` that measure time: the speed probes, the time budget
// (--final-minutes) and the batch stage, which compares batch sizes at equal wall-clock (PAPER.md
// "Batch size"; docs/cli.md "tune"). The other stages are in tune_stages.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tools/train/cli.h"
#include "tools/train/sweep.h"
#include "tools/train/tune.h"

namespace minidl::cli {

namespace {

std::string num(double v) {
  return tune_number(v);
}

// The LR scale for a batch size `ratio` times the settings' (--batch-lr-scaling).
double batch_lr_scale(const std::string& rule, double ratio) {
  if (rule == "linear") return ratio;
  if (rule == "sqrt") return std::sqrt(ratio);
  return 1;
}

// The iterations that train for `seconds` at `img_per_s` with this batch size (at least one).
int64_t iterations_in(double seconds, double img_per_s, int64_t batch) {
  return std::max<int64_t>(1, std::llround(seconds * img_per_s / double(batch)));
}

}  // namespace

int tune_speed(const TunePlan& p, nlohmann::json& state, int64_t batch, double& img_per_s) {
  const std::string key = std::to_string(batch);
  if (state.contains("speed") && state["speed"].contains(key)) {
    img_per_s = state["speed"][key]["img_per_s"];
    return 0;
  }
  const std::string dir = p.out + "/0-speed/batch-" + key;
  const int64_t iters = std::max<int64_t>(2, p.args.speed_iterations);
  // LR 0: the weights stay as initialised, so no probe can diverge; one test batch at the end.
  const int code =
      tune_train_run(p, state, dir,
                     {"--batch-size", key, "--iterations", std::to_string(iters), "--log-every",
                      std::to_string(iters / 2), "--eval-every", std::to_string(iters),
                      "--eval-batches", "1", "--lr", "fixed:value=0", "--momentum", "0.9"});
  if (code != 0) return code;
  img_per_s = read_run_result(dir).img_per_s;
  if (!(img_per_s > 0))
    throw UsageError("tune: no training speed in " + dir + "/metrics.csv (img_per_s)");
  state["speed"][key] = {{"img_per_s", img_per_s}, {"dir", dir}, {"iterations", iters}};
  write_tune_state(p.out, state);
  return 0;
}

int tune_stage_budget(const TunePlan& p, nlohmann::json& state) {
  const int64_t batch = p.base.data.batch_size;
  double ips = 0;
  if (int code = tune_speed(p, state, batch, ips)) return code;
  const int64_t iters = iterations_in(p.args.final_minutes * 60, ips, batch);
  std::printf("tune: %s minutes of training at %s img/s, batch %lld: %lld iterations\n",
              num(p.args.final_minutes).c_str(), num(ips).c_str(), static_cast<long long>(batch),
              static_cast<long long>(iters));
  state["budget"] = {{"minutes", p.args.final_minutes},
                     {"img_per_s", ips},
                     {"batch_size", batch},
                     {"iterations", iters}};
  write_tune_state(p.out, state);
  return 0;
}

// Stage 3b (optional): the batch size at equal wall-clock (PAPER.md "Batch size"). Each candidate
// trains a short 1cycle of the final run's kind for the same training time (its iterations from
// its measured speed), its LR bounds scaled to its batch size; the lowest final test loss wins (a
// diverged candidate loses). The final run then trains at the winner's size for the time the
// budget gives the settings' size.
int tune_stage_batch(const TunePlan& p, nlohmann::json& state) {
  const int64_t b0 = p.base.data.batch_size;
  double ips0 = 0;
  if (int code = tune_speed(p, state, b0, ips0)) return code;
  const double budget_s = p.iterations * double(b0) / ips0;  // the final run's, at b0
  const double seconds = p.args.batch_share * budget_s;      // each candidate's
  const double lo = state["range"]["min_lr"], hi = state["range"]["max_lr"];
  std::printf("\n== tune, stage batch: %s s of training each, LR scaled %s\n", num(seconds).c_str(),
              p.args.batch_lr_scaling.c_str());
  nlohmann::json table = nlohmann::json::array();
  double best_loss = INFINITY;
  size_t best = 0;
  for (int64_t b : p.batch_grid) {
    double ips = 0;
    if (int code = tune_speed(p, state, b, ips)) return code;
    const double scale = batch_lr_scale(p.args.batch_lr_scaling, double(b) / double(b0));
    const int64_t iters = iterations_in(seconds, ips, b);
    const std::string dir = p.out + "/3b-batch/batch-" + std::to_string(b);
    const int code = tune_train_run(
        p, state, dir,
        {"--batch-size", std::to_string(b), "--lr", tune_onecycle(scale * lo, scale * hi),
         "--momentum", tune_chosen_momentum(state), "--weight-decay", num(tune_chosen_wd(p, state)),
         "--iterations", std::to_string(iters), "--eval-every", std::to_string(iters)});
    if (code != 0 && code != kDiverged) return code;
    nlohmann::json row = tune_run_outcome(code, dir);
    row["batch_size"] = b;
    row["img_per_s"] = ips;
    row["iterations"] = iters;
    row["lr_scale"] = scale;
    row["max_lr"] = scale * hi;
    row["train_s"] =
        code == kDiverged ? nlohmann::json() : nlohmann::json(read_run_result(dir).elapsed_s);
    const double loss = tune_cell_number(row["test_loss"].get<std::string>());
    if (loss < best_loss) best_loss = loss, best = table.size();  // NaN (diverged) never wins
    table.push_back(row);
  }
  if (!std::isfinite(best_loss))
    throw UsageError("tune: every batch-size candidate diverged; see " + p.out +
                     "/3b-batch, or try --batch-lr-scaling sqrt");
  const nlohmann::json& w = table[best];
  const int64_t bw = w["batch_size"];
  // The final run at the winner's size trains for the budget's time at its measured speed.
  const int64_t final_iters = iterations_in(budget_s, w["img_per_s"].get<double>(), bw);
  state["batch"] = {{"batch_size", bw},
                    {"lr_scale", w["lr_scale"]},
                    {"iterations", final_iters},
                    {"seconds", seconds},
                    {"budget_s", budget_s},
                    {"scaling", p.args.batch_lr_scaling},
                    {"rule", "the lowest final test loss (" + num(best_loss) + ")"},
                    {"candidates", table}};
  write_tune_state(p.out, state);
  return 0;
}

}  // namespace minidl::cli
