// `minidl_train tune`: the paper's recipe (PAPER.md "Method") as one command that explains each
// decision (DESIGN.md §7, docs/cli.md "tune").
//
//   minidl_train tune --model resnet20 --epochs 10 --out runs/tune
//   minidl_train tune --model lenet --epochs 12 --wd-grid 1e-3,3e-4,1e-4,3e-5,0 --out runs/lenet
//
// Stages, each one or more minidl_train processes of this binary, in folders of OUT:
//  0. budget (with --final-minutes) the training speed at the settings' batch size, from a short
//            probe at LR 0 (OUT/0-speed), turns the minutes into the final run's iterations.
//  1. range  `range-test` (Smith's linear sweep with PreciseBN and smoothing, optim/range_test.h)
//            -> max LR, and min LR = max / 10.
//  2. wd     the snapshot trick (PAPER.md "Weight decay"): `train` at the grid's middle value for
//            a share of the budget (the snapshot), the LR rising linearly from min LR to the mean
//            of the bounds as a 1cycle's does; then from that snapshot (init_from), once per
//            value, a short `train` with the LR falling linearly from there to 0, so each branch
//            ends settled and its test loss says where that value leads. Rule: the lowest final
//            test loss wins; a branch that diverges is recorded as such.
//  3. momentum (optional, `--stages range,wd,momentum,final`) two short 1cycles between the
//            bounds with the chosen weight decay, cyclical momentum 0.95 -> 0.85 against
//            constant 0.9 (PAPER.md "Momentum"). Rule: the lower final test loss wins.
//  3b. batch (optional, `--stages range,wd,batch,final`) the batch size at equal wall-clock
//            (PAPER.md "Batch size"): each candidate's speed probed, then a short 1cycle of the
//            same training time each, its LR bounds scaled to its size (linear by default).
//            Rule: the lowest final test loss wins; the final run trains at that size for the
//            time the budget gives the settings' size.
//  4. final  `train` with Smith's 1cycle between the bounds (SS 45%), the chosen momentum
//            (cyclical 0.95 -> 0.85 without stage 3) and weight decay, for the whole budget
//            (epochs or iterations). A run that diverges runs again at half the bounds (up to
//            --final-retries times); the report says so.
// OUT/tune.json records each decision as it is made, and what the stages ran; the same command
// continues an interrupted tune (decided stages are skipped, an interrupted train resumes from its
// checkpoint, a range test starts again). Ctrl-C stops the running stage with a checkpoint
// (exit 130). OUT/report.md (tune_report.cpp): every decision, the figures behind it and the rule;
// the final run's RUN/config.json is the resolved config, and the report gives the `train` command
// that repeats it.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"
#include "tools/train/tune.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

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

// --batch-grid: batch sizes; empty: half, the same and double the settings' `batch`.
std::vector<int64_t> parse_batch_grid(const std::string& text, int64_t batch) {
  if (trim(text).empty()) {
    std::vector<int64_t> out;
    if (batch / 2 >= 1) out.push_back(batch / 2);
    out.insert(out.end(), {batch, 2 * batch});
    return out;
  }
  std::vector<int64_t> out;
  for (const std::string& cell : split(text, ',')) {
    int64_t v = 0;
    if (!parse_int(trim(cell), v) || v < 1)
      throw UsageError("--batch-grid: '" + cell + "' is not a batch size (an integer >= 1)");
    out.push_back(v);
  }
  return out;
}

int run_tune(const SettingsFlags& flags, const TuneArgs& a) {
  TunePlan p;
  p.args = a;
  Settings defaults;
  defaults.run.out = "runs/tune";
  p.base = resolve_settings(flags, defaults);
  p.base.validate();
  p.out = p.base.run.out;
  p.bin = fs::read_symlink("/proc/self/exe").string();
  p.wd_grid = parse_grid(a.wd_grid);
  p.batch_grid = parse_batch_grid(a.batch_grid, p.base.data.batch_size);
  const std::vector<std::string> known = {"range", "wd", "momentum", "batch", "final"};
  for (const std::string& st : split(a.stages, ',')) {
    if (std::find(known.begin(), known.end(), st) == known.end())
      throw UsageError("--stages: unknown stage '" + st +
                       "'; known: range, wd, momentum, batch, final");
    p.stages.push_back(st);
  }
  if (a.final_minutes > 0) {  // the time budget: measured first, before every other stage
    const std::vector<std::string> given = given_keys(flags);
    for (const char* key : {"epochs", "iterations"})
      if (std::find(given.begin(), given.end(), key) != given.end())
        throw UsageError("--final-minutes and " + flag_name(key) + " are two budgets; give one");
    p.stages.insert(p.stages.begin(), "budget");
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
  nlohmann::json state = read_tune_state(p.out);
  auto identity = [](nlohmann::json s) {  // what may change between sittings (threads, ...) aside
    for (const std::string& key : resume_changeable_keys()) s.erase(key);
    return s;
  };
  if (state.contains("settings") && identity(state["settings"]) != identity(settings))
    throw UsageError(p.out + " holds a tune of other settings; use another --out");
  // A time budget is decided first: a tune made without one cannot take one later, nor the reverse.
  const double minutes = state.contains("budget") ? state["budget"]["minutes"].get<double>() : 0;
  bool decided = false;
  for (const char* key : {"range", "wd", "momentum", "batch", "final"})
    decided |= state.contains(key);
  if (minutes != a.final_minutes && (minutes > 0 || decided))
    throw UsageError(p.out + " holds a tune of another budget (--final-minutes " +
                     (minutes > 0 ? tune_number(minutes) : std::string("not given")) +
                     "); use another --out");
  state["settings"] = settings;
  if (!state.contains("done")) state["done"] = nlohmann::json::object();
  p.settings_file = p.out + "/settings.json";
  write_file_atomic(p.settings_file, settings.dump(2) + "\n");
  write_tune_state(p.out, state);

  if (a.max_lr > 0 && !state.contains("range"))
    state["range"] = {{"max_lr", a.max_lr},
                      {"min_lr", a.max_lr / 10},
                      {"rule", "given with --max-lr; min LR = max / 10"},
                      {"spread", nullptr},
                      {"dir", ""},
                      {"command", "(given)"}};
  // The time budget, once measured, sets the final run's iterations that the shares are of.
  auto sync_budget = [&] {
    if (state.contains("budget")) p.iterations = state["budget"]["iterations"].get<int64_t>();
  };
  sync_budget();
  struct Stage {
    const char* name;
    const char* key;
    int (*run)(const TunePlan&, nlohmann::json&);
  };
  for (const Stage& st :
       {Stage{"budget", "budget", tune_stage_budget}, Stage{"range", "range", tune_stage_range},
        Stage{"wd", "wd", tune_stage_wd}, Stage{"momentum", "momentum", tune_stage_momentum},
        Stage{"batch", "batch", tune_stage_batch}, Stage{"final", "final", tune_stage_final}}) {
    if (!has(st.name)) continue;
    if (state.contains(st.key)) {
      std::printf("== tune, stage %s: decided earlier (%s/tune.json)\n", st.name, p.out.c_str());
      continue;
    }
    std::printf("\n== tune, stage %s\n", st.name);
    const int code = st.run(p, state);
    sync_budget();
    write_tune_report(p, state, flags);
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
  write_tune_report(p, state, flags);
  std::printf("\ntune: report %s/report.md\n", p.out.c_str());
  if (state.contains("final"))
    std::printf("tune: final test accuracy %s%%\n",
                tune_number(100 * tune_cell_number(state["final"]["test_acc"])).c_str());
  return 0;
}

}  // namespace

void add_tune_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb = app.add_subcommand("tune",
                                      "The paper's recipe: range test -> weight decay (snapshot "
                                      "trick) -> momentum, batch -> 1cycle");
  std::vector<std::string> keys;
  for (const Field& f : Settings().fields()) keys.push_back(f.key);
  Settings defaults;
  defaults.run.out = "runs/tune";
  auto flags = add_settings_flags(verb, keys, defaults);
  auto a = std::make_shared<TuneArgs>();
  verb->add_option("--stages", a->stages,
                   "Stages to run (in this order): range, wd, momentum, final")
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
  verb->add_option("--range-edge-fraction", a->range_edge_fraction,
                   "range stage: max LR as a fraction of the edge, where the test loss rose")
      ->check(CLI::Range(0.0, 1.0) & CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--momentum-share", a->momentum_share,
                   "momentum stage: each candidate's share of the final run's iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--final-retries", a->final_retries,
                   "final stage: runs again at half the LR bounds after a divergence, this often")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  verb->add_option("--final-minutes", a->final_minutes,
                   "Budget as time: the final run's training minutes (evaluations excluded), "
                   "instead of --epochs or --iterations; the speed is measured first")
      ->check(CLI::PositiveNumber);
  verb->add_option("--batch-grid", a->batch_grid,
                   "batch stage: batch sizes to compare (default: half, the same, double)");
  verb->add_option("--batch-share", a->batch_share,
                   "batch stage: each candidate's training time as a share of the final run's")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--batch-lr-scaling", a->batch_lr_scaling,
                   "batch stage: LR bounds scaled by batch / the settings' batch, or its sqrt")
      ->check(CLI::IsMember({"linear", "sqrt", "none"}))
      ->capture_default_str();
  verb->add_option("--speed-iterations", a->speed_iterations,
                   "Iterations of a speed probe (its second half timed)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30))
      ->capture_default_str();
  verb->add_option("--max-lr", a->max_lr, "Give max LR (min = max / 10) instead of a range test")
      ->check(CLI::PositiveNumber);
  verb->callback([flags, a, &exit_code] { exit_code = run_tune(*flags, *a); });
}

}  // namespace minidl::cli
