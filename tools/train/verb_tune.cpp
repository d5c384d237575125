// `minidl_train tune`: the paper's recipe (PAPER.md "Method") as one command that explains each
// decision (DESIGN.md §7, docs/cli.md "tune").
//
//   minidl_train tune --model resnet20 --epochs 10 --out runs/tune
//   minidl_train tune --model lenet --epochs 12 --wd-grid 1e-3,3e-4,1e-4,3e-5,0 --out runs/lenet
//
// Stages, each one or more minidl_train processes of this binary, in folders of OUT:
//  1. range  `range-test` (Smith's linear sweep with PreciseBN and smoothing, optim/range_test.h)
//            -> max LR, and min LR = max / 10.
//  2. wd     the snapshot trick (PAPER.md "Weight decay"): `train` at the grid's middle value for
//            a share of the budget (the snapshot), the LR rising linearly from min LR to the mean
//            of the bounds as a 1cycle's does; then from that snapshot (init_from), once per
//            value, a short `train` with the LR falling linearly from there to 0, so each branch
//            ends settled and its test loss says where that value leads. Rule: the lowest final
//            test loss wins; a branch that diverges is recorded as such.
//  3. final  `train` with Smith's 1cycle between the bounds (SS 45%), cyclical momentum 0.95 ->
//            0.85, the chosen weight decay, for the whole budget (epochs or iterations).
// OUT/tune.json records each decision as it is made, and what the stages ran; the same command
// continues an interrupted tune (decided stages are skipped, an interrupted train resumes from its
// checkpoint, a range test starts again). Ctrl-C stops the running stage with a checkpoint
// (exit 130). OUT/report.md: every decision, the figures behind it and the rule; the final run's
// RUN/config.json is the resolved config, and the report gives the `train` command that repeats it.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file_io.h"
#include "core/json_input.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"
#include "tools/train/sweep.h"
#include "tools/train/sweep_process.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

struct TuneArgs {
  std::string stages = "range,wd,final";
  std::string wd_grid = "1e-3,3e-4,1e-4,3e-5,0";    // the paper's grid
  double snapshot_share = 0.2, branch_share = 0.1;  // of the final run's iterations
  int64_t range_iterations = 300, range_eval_every = 10, range_eval_batches = 16;
  int64_t range_repeats = 1;
  double range_max_lr = 3;
  double max_lr = 0;  // > 0: given, no range stage needed (min LR = max / 10)
};

// What a stage needs from the settings and the data: the budget in iterations.
struct Plan {
  Settings base;
  std::string out, bin, settings_file;
  int64_t iterations = 0;  // of the final run
  std::vector<double> wd_grid;
  std::vector<std::string> stages;
  TuneArgs args;
};

constexpr int kDiverged = 3;  // train's exit code when the loss diverged

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// ---- tune.json: the decisions and the runs done, written after each ----

nlohmann::json parse_json_file(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse_json_input(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

nlohmann::json read_state(const std::string& out) {
  const std::string path = out + "/tune.json";
  if (!fs::exists(path)) return nlohmann::json::object();
  return usage_guard([&] { return parse_json_file(path); });
}

void write_state(const std::string& out, const nlohmann::json& state) {
  write_file_atomic(out + "/tune.json", state.dump(2) + "\n");
}

// ---- running a stage's processes ----

// Runs this binary with `args` to its end; a SIGINT or SIGTERM to tune is passed on once (train
// checkpoints and exits 130). Returns the exit code.
int run_child(const Plan& p, std::vector<std::string> args) {
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
  return exit_code_of(status);
}

// A `train` run in DIR with these flags over the tune's settings: resumed when it has a
// checkpoint, started afresh (--force) otherwise; skipped when tune.json records it done.
int train_run(const Plan& p, nlohmann::json& state, const std::string& dir,
              const std::vector<std::string>& flags) {
  if (state["done"].contains(dir)) return state["done"][dir].get<int>();
  std::vector<std::string> args = {"train"};
  if (!latest_checkpoint(dir).empty()) {
    args.insert(args.end(), {"--resume", dir, "--threads", std::to_string(p.base.run.threads)});
  } else {
    args.insert(args.end(), {"--config", p.settings_file, "--out", dir, "--force"});
    args.insert(args.end(), flags.begin(), flags.end());
  }
  const int code = run_child(p, args);
  if (code == 0 || code == kDiverged) {
    state["done"][dir] = code;
    write_state(p.out, state);
  }
  return code;
}

// The test losses of a run's evaluations, in order (metrics.csv's test_loss cells).
std::vector<double> test_losses(const std::string& dir) {
  std::vector<double> out;
  std::ifstream in(dir + "/metrics.csv");
  std::string line;
  if (!std::getline(in, line)) return out;
  std::vector<std::string> header = split(line, ',');
  size_t col = std::find(header.begin(), header.end(), "test_loss") - header.begin();
  double v = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cells = split(line, ',');
    if (col < cells.size() && parse_number(cells[col], v)) out.push_back(v);
  }
  return out;
}

double final_number(const std::string& text) {
  double v = NAN;
  parse_number(text, v);
  return v;
}

// ---- the stages ----

int stage_range(const Plan& p, nlohmann::json& state) {
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
                                   "--momentum",
                                   "0.9"};
  if (int code = run_child(p, args)) return code;
  nlohmann::json rt = usage_guard([&] { return parse_json_file(dir + "/range_test.json"); });
  if (rt["suggested_max_lr"].is_null())
    throw UsageError("tune: the range test made " + rt["rule"].get<std::string>() + "; see " + dir +
                     "/range_test.png, then give --max-lr or change --range-max-lr");
  const double max_lr = rt["suggested_max_lr"].get<double>();
  state["range"] = {{"max_lr", max_lr},   {"min_lr", max_lr / 10},
                    {"rule", rt["rule"]}, {"spread", rt["spread"]},
                    {"dir", dir},         {"command", "minidl_train " + join(args, " ")}};
  write_state(p.out, state);
  return 0;
}

int stage_wd(const Plan& p, nlohmann::json& state) {
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
  if (int code = train_run(p, state, snap, snap_flags)) return code;
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
    const int code = train_run(p, state, bdir, flags);
    if (code == kDiverged) {  // a result, not a failure: this value does not train
      branches.push_back(
          {{"weight_decay", wd}, {"test_loss", "diverged"}, {"test_acc", ""}, {"dir", bdir}});
      continue;
    }
    if (code != 0) return code;
    RunResult r = read_run_result(bdir);
    const double loss = final_number(r.final_loss);
    branches.push_back({{"weight_decay", wd},
                        {"test_loss", r.final_loss},
                        {"test_acc", r.final_acc},
                        {"dir", bdir}});
    if (loss < best_loss) best_loss = loss, best_wd = wd;
  }
  std::vector<double> snap_losses = test_losses(snap);
  // How far the runner-up is: under 1%, the grid cannot tell them apart at this budget, and the
  // report says so rather than pretend.
  double second = INFINITY;
  for (const nlohmann::json& b : branches) {
    const double loss = final_number(b["test_loss"].get<std::string>());
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
  write_state(p.out, state);
  return 0;
}

// The final run's flags: the decided schedule and weight decay.
std::vector<std::string> final_flags(const Plan& p, const nlohmann::json& state) {
  const double lo = state["range"]["min_lr"], hi = state["range"]["max_lr"];
  const double wd =
      state.contains("wd") ? state["wd"]["weight_decay"].get<double>() : p.base.optim.weight_decay;
  return {"--lr",           "onecycle-smith:base=" + num(lo) + ",max=" + num(hi) + ",ss=45%",
          "--momentum",     "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%",
          "--weight-decay", num(wd)};
}

int stage_final(const Plan& p, nlohmann::json& state) {
  const std::string dir = p.out + "/3-final";
  if (int code = train_run(p, state, dir, final_flags(p, state))) return code;
  RunResult r = read_run_result(dir);
  state["final"] = {{"dir", dir},
                    {"test_acc", r.final_acc},
                    {"test_loss", r.final_loss},
                    {"iterations", r.iterations}};
  write_state(p.out, state);
  return 0;
}

// ---- report.md ----

std::string percent(const std::string& fraction) {
  double v = final_number(fraction);
  return std::isnan(v) ? "–" : num(100 * v) + "%";
}

void write_report(const Plan& p, const nlohmann::json& state, const SettingsFlags& flags) {
  std::ostringstream md;
  md << "# minidl_train tune: " << p.base.model.model << " on " << p.base.data.dataset << "\n\n"
     << "Budget: " << p.iterations << " iterations at batch " << p.base.data.batch_size
     << ". Each decision below is made by the rule stated with it, from the runs in this folder.\n";
  if (state.contains("range")) {
    const nlohmann::json& r = state["range"];
    md << "\n## 1. LR range test -> max LR " << num(r["max_lr"]) << ", min LR " << num(r["min_lr"])
       << "\n\n`" << r["command"].get<std::string>()
       << "`\n\nRule: " << r["rule"].get<std::string>() << ".\n";
    if (!r["spread"].is_null() && r["spread"]["n"].get<int>() > 1)
      md << "Repeats: each repeat's max LR from " << num(r["spread"]["min"]) << " to "
         << num(r["spread"]["max"]) << " (median " << num(r["spread"]["median"]) << ").\n";
    md << "\n![range test](" << fs::path(r["dir"].get<std::string>()).filename().string()
       << "/range_test.png)\n";
  } else if (p.args.max_lr > 0) {
    md << "\n## 1. LR bounds given: max LR " << num(p.args.max_lr) << ", min LR max / 10\n";
  }
  if (state.contains("wd")) {
    const nlohmann::json& w = state["wd"];
    md << "\n## 2. Weight decay -> " << num(w["weight_decay"])
       << "\n\nSnapshot: " << w["snapshot"]["iterations"].get<int64_t>()
       << " iterations at weight decay " << num(w["snapshot"]["weight_decay"])
       << ", the LR rising linearly from min LR to " << num(w["lr"])
       << " (the mean of the bounds), momentum 0.9. Its test loss at each evaluation:";
    for (const nlohmann::json& v : w["snapshot"]["test_losses"]) md << " " << num(v);
    md << ".\nBranches from the snapshot, " << w["branch_iterations"].get<int64_t>()
       << " iterations each, LR " << num(w["lr"]) << " falling linearly to 0:\n\n"
       << "| weight decay | final test loss | final test accuracy |\n|---|---|---|\n";
    for (const nlohmann::json& b : w["branches"])
      md << "| " << num(b["weight_decay"]) << " | " << b["test_loss"].get<std::string>() << " | "
         << percent(b["test_acc"]) << " |\n";
    md << "\nRule: " << w["rule"].get<std::string>() << ".\n";
  }
  if (state.contains("final")) {
    const nlohmann::json& f = state["final"];
    std::string again = "minidl_train train";
    for (const std::string& key : given_keys(flags))
      if (key != "out" && key != "lr" && key != "momentum" && key != "weight_decay")
        again += " " + flag_name(key) + " " + flags.raw.at(key);
    for (const std::string& f2 : final_flags(p, state)) again += " " + f2;
    md << "\n## 3. Final run: test accuracy " << percent(f["test_acc"]) << " (test loss "
       << f["test_loss"].get<std::string>() << ")\n\n1cycle (Smith's, SS 45%) between the "
       << "bounds with cyclical momentum 0.95 -> 0.85 and the chosen weight decay. Its resolved "
       << "config: `3-final/config.json`. To repeat it:\n\n```sh\n"
       << again << " --out runs/again\n# or: minidl_train train --config " << p.out
       << "/3-final/config.json --out runs/again\n```\n";
  }
  write_file_atomic(p.out + "/report.md", md.str());
}

std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> out;
  for (const std::string& cell : split(text, ',')) {
    double v = 0;
    if (!parse_number(trim(cell), v) || v < 0)
      throw UsageError("--wd-grid: '" + cell + "' is not a weight decay (a number >= 0)");
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--wd-grid is empty");
  return out;
}

int run_tune(const SettingsFlags& flags, const TuneArgs& a) {
  Plan p;
  p.args = a;
  Settings defaults;
  defaults.run.out = "runs/tune";
  p.base = resolve_settings(flags, defaults);
  p.base.validate();
  p.out = p.base.run.out;
  p.bin = fs::read_symlink("/proc/self/exe").string();
  p.wd_grid = parse_grid(a.wd_grid);
  const std::vector<std::string> known = {"range", "wd", "final"};
  for (const std::string& st : split(a.stages, ',')) {
    if (std::find(known.begin(), known.end(), st) == known.end())
      throw UsageError("--stages: unknown stage '" + st + "'; known: range, wd, final");
    p.stages.push_back(st);
  }
  auto has = [&](const char* st) {
    return std::find(p.stages.begin(), p.stages.end(), st) != p.stages.end();
  };
  if (!has("range") && a.max_lr <= 0)
    throw UsageError("--stages without range needs the LR bounds: give --max-lr");
  {  // the budget in iterations, from the data (epochs x batches per epoch, or iterations)
    Datasets data = load_datasets(p.base.data, p.base.run);
    p.iterations = p.base.schedule.total_iterations(
        make_train_loader(p.base.data, p.base.run, data)->batches_per_epoch());
  }
  fs::create_directories(p.out);
  // The children read the tune's settings from this file; their own flags override it.
  nlohmann::json settings = p.base.to_json();
  nlohmann::json state = read_state(p.out);
  auto identity = [](nlohmann::json s) {  // what may change between sittings (threads, ...) aside
    for (const std::string& key : resume_changeable_keys()) s.erase(key);
    return s;
  };
  if (state.contains("settings") && identity(state["settings"]) != identity(settings))
    throw UsageError(p.out + " holds a tune of other settings; use another --out");
  state["settings"] = settings;
  if (!state.contains("done")) state["done"] = nlohmann::json::object();
  p.settings_file = p.out + "/settings.json";
  write_file_atomic(p.settings_file, settings.dump(2) + "\n");
  write_state(p.out, state);

  if (a.max_lr > 0 && !state.contains("range"))
    state["range"] = {{"max_lr", a.max_lr},
                      {"min_lr", a.max_lr / 10},
                      {"rule", "given with --max-lr; min LR = max / 10"},
                      {"spread", nullptr},
                      {"dir", ""},
                      {"command", "(given)"}};
  struct Stage {
    const char* name;
    const char* key;
    int (*run)(const Plan&, nlohmann::json&);
  };
  for (const Stage& st : {Stage{"range", "range", stage_range}, Stage{"wd", "wd", stage_wd},
                          Stage{"final", "final", stage_final}}) {
    if (!has(st.name)) continue;
    if (state.contains(st.key)) {
      std::printf("== tune, stage %s: decided earlier (%s/tune.json)\n", st.name, p.out.c_str());
      continue;
    }
    std::printf("\n== tune, stage %s\n", st.name);
    const int code = st.run(p, state);
    write_report(p, state, flags);
    if (code == 130) {
      std::printf("tune interrupted in stage %s; the same command continues it\n", st.name);
      return code;
    }
    if (code != 0) {
      std::printf("tune: stage %s failed (exit %d); see its folder in %s\n", st.name, code,
                  p.out.c_str());
      return code;
    }
  }
  write_report(p, state, flags);
  std::printf("\ntune: report %s/report.md\n", p.out.c_str());
  if (state.contains("final"))
    std::printf("tune: final test accuracy %s\n",
                percent(state["final"]["test_acc"].get<std::string>()).c_str());
  return 0;
}

}  // namespace

void add_tune_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb = app.add_subcommand(
      "tune", "The paper's recipe: range test -> weight decay (snapshot trick) -> final 1cycle");
  std::vector<std::string> keys;
  for (const Field& f : Settings().fields()) keys.push_back(f.key);
  Settings defaults;
  defaults.run.out = "runs/tune";
  auto flags = add_settings_flags(verb, keys, defaults);
  auto a = std::make_shared<TuneArgs>();
  verb->add_option("--stages", a->stages, "Stages to run, in order: range, wd, final")
      ->capture_default_str();
  verb->add_option("--wd-grid", a->wd_grid, "Weight decays the wd stage compares")
      ->capture_default_str();
  verb->add_option("--snapshot-share", a->snapshot_share,
                   "wd stage: the snapshot's share of the final run's iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--branch-share", a->branch_share,
                   "wd stage: each branch's share of the final run's iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--range-iterations", a->range_iterations, "range stage: sweep iterations")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--range-max-lr", a->range_max_lr, "range stage: the sweep's last LR")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--range-eval-every", a->range_eval_every,
                   "range stage: iterations between test points")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--range-eval-batches", a->range_eval_batches,
                   "range stage: test batches per point")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--range-repeats", a->range_repeats, "range stage: seeds to combine")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--max-lr", a->max_lr, "Give max LR (min = max / 10) instead of a range test")
      ->check(CLI::PositiveNumber);
  verb->callback([flags, a, &exit_code] { exit_code = run_tune(*flags, *a); });
}

}  // namespace minidl::cli
