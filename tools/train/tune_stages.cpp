// The stages of `minidl_train tune` (verb_tune.cpp runs them in order; docs/cli.md "tune"). Each
// stage runs `minidl_train` processes of this binary in its folder of OUT, decides by the rule it
// states, and records the decision, its figures and the rule in OUT/tune.json before it returns.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>

#include "core/file_io.h"
#include "core/json_input.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "tools/train/sweep.h"
#include "tools/train/sweep_process.h"
#include "tools/train/tune.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

std::string num(double v) {
  return tune_number(v);
}

nlohmann::json parse_json_file(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse_json_input(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

// Runs this binary with `args` to its end; a SIGINT or SIGTERM to tune is passed on once (train
// checkpoints and exits 130). Returns the exit code. Its wall-clock is added to its stage's in
// state["wall_s"] (the stage: the first folder of `dir` under OUT), for the report.
int run_child(const TunePlan& p, nlohmann::json& state, const std::string& dir,
              std::vector<std::string> args) {
  const auto start = std::chrono::steady_clock::now();
  args.insert(args.begin(), p.bin);
  std::string shown = "minidl_train";
  for (size_t i = 1; i < args.size(); ++i) shown += " " + args[i];
  std::printf("\n$ %s\n", shown.c_str());
  SignalGuard guard;
  pid_t pid = spawn_child(args, "");
  int status = 0, passed = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (take_signal() && passed++ == 0) ::kill(pid, SIGINT);
    ::usleep(50 * 1000);
  }
  const std::string stage = fs::path(dir).lexically_relative(p.out).begin()->string();
  nlohmann::json& wall = state["wall_s"][stage];
  wall = (wall.is_number() ? wall.get<double>() : 0.0) +
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return exit_code_of(status);
}

const char* const kCyclicMomentum = "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%";

// The final run's LR bounds: the range stage's, scaled to the batch stage's batch size, halved
// once per diverged attempt.
std::pair<double, double> final_bounds(const nlohmann::json& state) {
  double scale = state.contains("batch") ? state["batch"]["lr_scale"].get<double>() : 1.0;
  if (state.contains("final_diverged"))
    scale *= std::ldexp(1.0, -int(state["final_diverged"].size()));
  return {scale * state["range"]["min_lr"].get<double>(),
          scale * state["range"]["max_lr"].get<double>()};
}

}  // namespace

// ---- what the stages share (tune.h) ----

// A `train` run in DIR with these flags over the tune's settings: resumed when it has a
// checkpoint, started afresh (--force) otherwise; skipped when tune.json records it done.
int tune_train_run(const TunePlan& p, nlohmann::json& state, const std::string& dir,
                   const std::vector<std::string>& flags) {
  if (state["done"].contains(dir)) return state["done"][dir].get<int>();
  std::vector<std::string> args = {"train"};
  if (!latest_checkpoint(dir).empty()) {
    args.insert(args.end(), {"--resume", dir, "--threads", std::to_string(p.base.run.threads)});
  } else {
    args.insert(args.end(), {"--config", p.settings_file, "--out", dir, "--force"});
    args.insert(args.end(), flags.begin(), flags.end());
  }
  const int code = run_child(p, state, dir, args);
  if (code == 0 || code == kDiverged) state["done"][dir] = code;
  write_tune_state(p.out, state);
  return code;
}

// A train run's end for a table of candidates: its final test figures, or "diverged".
nlohmann::json tune_run_outcome(int code, const std::string& dir) {
  if (code == kDiverged) return {{"test_loss", "diverged"}, {"test_acc", ""}, {"dir", dir}};
  RunResult r = read_run_result(dir);
  return {{"test_loss", r.final_loss}, {"test_acc", r.final_acc}, {"dir", dir}};
}

// The chosen weight decay: the wd stage's, or the settings' without it.
double tune_chosen_wd(const TunePlan& p, const nlohmann::json& state) {
  return state.contains("wd") ? state["wd"]["weight_decay"].get<double>()
                              : p.base.optim.weight_decay;
}

std::string tune_onecycle(double lo, double hi) {
  return "onecycle-smith:base=" + num(lo) + ",max=" + num(hi) + ",ss=45%";
}

// The chosen momentum schedule: the momentum stage's, or cyclical 0.95 -> 0.85 without it.
std::string tune_chosen_momentum(const nlohmann::json& state) {
  return state.contains("momentum") ? state["momentum"]["momentum"].get<std::string>()
                                    : kCyclicMomentum;
}

// ---- tune.json: the decisions and the runs done, written after each ----

nlohmann::json read_tune_state(const std::string& out) {
  const std::string path = out + "/tune.json";
  if (!fs::exists(path)) return nlohmann::json::object();
  return usage_guard([&] { return parse_json_file(path); });
}

void write_tune_state(const std::string& out, const nlohmann::json& state) {
  write_file_atomic(out + "/tune.json", state.dump(2) + "\n");
}

int tune_stage_range(const TunePlan& p, nlohmann::json& state) {
  const std::string dir = p.out + "/1-range";
  const TuneArgs& a = p.args;
  std::vector<std::string> args = {"range-test",
                                   "--config",
                                   p.settings_file,
                                   "--out",
                                   dir,
                                   "--iterations",
                                   std::to_string(a.range_iterations),
                                   "--eval-every",
                                   std::to_string(a.range_eval_every),
                                   "--eval-batches",
                                   std::to_string(a.range_eval_batches),
                                   "--max-lr",
                                   num(a.range_max_lr),
                                   "--repeats",
                                   std::to_string(a.range_repeats),
                                   "--edge-fraction",
                                   num(a.range_edge_fraction),
                                   "--momentum",
                                   "0.9"};
  if (int code = run_child(p, state, dir, args)) {
    write_tune_state(p.out, state);
    return code;
  }
  nlohmann::json rt = usage_guard([&] { return parse_json_file(dir + "/range_test.json"); });
  if (rt["suggested_max_lr"].is_null())
    throw UsageError("tune: the range test made " + rt["rule"].get<std::string>() + "; see " + dir +
                     "/range_test.png, then give --max-lr or change --range-max-lr");
  const double max_lr = rt["suggested_max_lr"].get<double>();
  state["range"] = {{"max_lr", max_lr},   {"min_lr", max_lr / 10},
                    {"rule", rt["rule"]}, {"spread", rt["spread"]},
                    {"dir", dir},         {"command", "minidl_train " + join(args, " ")}};
  write_tune_state(p.out, state);
  return 0;
}

int tune_stage_wd(const TunePlan& p, nlohmann::json& state) {
  const double lo = state["range"]["min_lr"], hi = state["range"]["max_lr"];
  const double lr = (lo + hi) / 2;
  const double middle = p.wd_grid[p.wd_grid.size() / 2];
  const int64_t snap_iters =
      std::max<int64_t>(1, std::llround(p.args.snapshot_share * p.iterations));
  const int64_t branch_iters =
      std::max<int64_t>(1, std::llround(p.args.branch_share * p.iterations));
  const std::string dir = p.out + "/2-wd", snap = dir + "/snapshot";
  std::printf("\n== tune, stage wd: snapshot at weight decay %s, LR %s for %lld iterations\n",
              num(middle).c_str(), num(lr).c_str(), static_cast<long long>(snap_iters));
  const std::vector<std::string> snap_flags = {
      "--weight-decay",
      num(middle),
      "--lr",
      "linear-sweep:start=" + num(lo) + ",end=" + num(lr) + ",iters=" + std::to_string(snap_iters),
      "--momentum",
      "0.9",
      "--iterations",
      std::to_string(snap_iters),
      "--eval-every",
      std::to_string(std::max<int64_t>(1, snap_iters / 4))};
  if (int code = tune_train_run(p, state, snap, snap_flags)) return code;
  nlohmann::json branches = nlohmann::json::array();
  double best_loss = INFINITY, best_wd = middle;
  for (double wd : p.wd_grid) {
    const std::string bdir = dir + "/wd-" + num(wd);
    const std::vector<std::string> flags = {
        "--init-from",
        latest_checkpoint(snap),
        "--weight-decay",
        num(wd),
        "--lr",
        "poly:base=" + num(lr) + ",power=1,max_iter=" + std::to_string(branch_iters),
        "--momentum",
        "0.9",
        "--iterations",
        std::to_string(branch_iters),
        "--eval-every",
        std::to_string(branch_iters)};
    const int code = tune_train_run(p, state, bdir, flags);
    if (code != 0 && code != kDiverged) return code;  // a divergence is a result: it does not train
    nlohmann::json row = tune_run_outcome(code, bdir);
    row["weight_decay"] = wd;
    branches.push_back(row);
    const double loss = tune_cell_number(row["test_loss"].get<std::string>());
    if (loss < best_loss) best_loss = loss, best_wd = wd;
  }
  std::vector<double> snap_losses = read_run_result(snap).test_losses;
  // How far the runner-up is: under 1%, the grid cannot tell them apart at this budget, and the
  // report says so rather than pretend.
  double second = INFINITY;
  for (const nlohmann::json& b : branches) {
    const double loss = tune_cell_number(b["test_loss"].get<std::string>());
    if (b["weight_decay"].get<double>() != best_wd && loss < second) second = loss;
  }
  std::string rule = "the lowest final test loss after the branches (" + num(best_loss) + ")";
  if (std::isfinite(second))
    rule += second < best_loss * 1.01
                ? "; the next is within 1% (" + num(second) + "): a close call at this budget"
                : "; the next is " + num(second);
  state["wd"] = {{"weight_decay", best_wd},
                 {"rule", rule},
                 {"lr", lr},
                 {"snapshot",
                  {{"dir", snap},
                   {"weight_decay", middle},
                   {"iterations", snap_iters},
                   {"test_losses", snap_losses}}},
                 {"branch_iterations", branch_iters},
                 {"branches", branches}};
  write_tune_state(p.out, state);
  return 0;
}

// Stage 3 (optional): cyclical momentum 0.95 -> 0.85 against constant 0.9 on short 1cycles of
// the final run's kind; the lower final test loss wins (a diverged candidate loses).
int tune_stage_momentum(const TunePlan& p, nlohmann::json& state) {
  const double lo = state["range"]["min_lr"], hi = state["range"]["max_lr"];
  const int64_t iters = std::max<int64_t>(1, std::llround(p.args.momentum_share * p.iterations));
  struct Candidate {
    const char* name;
    std::string momentum;
  };
  const Candidate candidates[] = {{"cyclical 0.95-0.85", kCyclicMomentum}, {"constant 0.9", "0.9"}};
  nlohmann::json table = nlohmann::json::array();
  double best_loss = INFINITY;
  size_t best = 0;
  for (size_t i = 0; i < std::size(candidates); ++i) {
    const std::string dir = p.out + "/3-momentum/" + (i == 0 ? "cyclical" : "constant");
    const int code =
        tune_train_run(p, state, dir,
                       {"--lr", tune_onecycle(lo, hi), "--momentum", candidates[i].momentum,
                        "--weight-decay", num(tune_chosen_wd(p, state)), "--iterations",
                        std::to_string(iters), "--eval-every", std::to_string(iters)});
    if (code != 0 && code != kDiverged) return code;
    nlohmann::json row = tune_run_outcome(code, dir);
    row["name"] = candidates[i].name;
    row["momentum"] = candidates[i].momentum;
    const double loss = tune_cell_number(row["test_loss"].get<std::string>());
    if (loss < best_loss) best_loss = loss, best = i;  // NaN (diverged) never wins
    table.push_back(row);
  }
  if (!std::isfinite(best_loss))
    throw UsageError("tune: both momentum candidates diverged; see " + p.out +
                     "/3-momentum, then give lower bounds with --max-lr");
  state["momentum"] = {{"momentum", candidates[best].momentum},
                       {"name", candidates[best].name},
                       {"rule", "the lower final test loss (" + num(best_loss) + ")"},
                       {"iterations", iters},
                       {"candidates", table}};
  write_tune_state(p.out, state);
  return 0;
}

int tune_stage_final(const TunePlan& p, nlohmann::json& state) {
  if (!state.contains("final_diverged")) state["final_diverged"] = nlohmann::json::array();
  for (;;) {
    const int64_t attempt = state["final_diverged"].size();
    const std::string dir =
        p.out + "/4-final" + (attempt ? "-retry" + std::to_string(attempt) : "");
    const double max_lr = final_bounds(state).second;
    const int code = tune_train_run(p, state, dir, tune_final_flags(p, state));
    if (code == kDiverged && attempt < p.args.final_retries) {
      std::printf("\n== tune, stage final: diverged at max LR %s; again at half the bounds\n",
                  num(max_lr).c_str());
      state["final_diverged"].push_back({{"dir", dir}, {"max_lr", max_lr}});
      write_tune_state(p.out, state);
      continue;
    }
    if (code != 0) return code;
    RunResult r = read_run_result(dir);
    state["final"] = {{"dir", dir},
                      {"max_lr", max_lr},
                      {"test_acc", r.final_acc},
                      {"test_loss", r.final_loss},
                      {"iterations", r.iterations}};
    write_tune_state(p.out, state);
    return 0;
  }
}

std::vector<std::string> tune_final_flags(const TunePlan& p, const nlohmann::json& state) {
  const auto [lo, hi] = final_bounds(state);
  std::vector<std::string> flags = {"--lr",           tune_onecycle(lo, hi),
                                    "--momentum",     tune_chosen_momentum(state),
                                    "--weight-decay", num(tune_chosen_wd(p, state))};
  if (state.contains("batch")) {  // the batch stage's size, for the budget's training time
    flags.insert(flags.end(),
                 {"--batch-size", std::to_string(state["batch"]["batch_size"].get<int64_t>()),
                  "--iterations", std::to_string(state["batch"]["iterations"].get<int64_t>())});
  } else if (state.contains("budget")) {  // the time budget in iterations
    flags.insert(flags.end(), {"--iterations", std::to_string(p.iterations)});
  }
  return flags;
}

}  // namespace minidl::cli
