// What `minidl_train tune`'s files share. verb_tune.cpp: the verb (its flags, the plan, the stage
// loop); tune_stages.cpp: the stages, each recording its decision in OUT/tune.json;
// tune_report.cpp: OUT/report.md, written from that record alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "optim/range_test.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

struct TuneArgs {
  std::string stages = "range,wd,final";
  std::string wd_grid = "1e-3,3e-4,1e-4,3e-5,0";    // the paper's grid
  double snapshot_share = 0.2, branch_share = 0.1;  // of the final run's iterations
  double momentum_share = 0.25;                     // each momentum candidate's share
  int64_t range_iterations = 300, range_eval_every = 10, range_eval_batches = 16;
  // seeds whose curves the range stage combines: one sweep's edge varies by -22% / +41% from
  // seed to seed on one CPU, three held -20% / +1% (docs/results.md)
  int64_t range_repeats = 3;
  double range_max_lr = 3;
  // max LR as a fraction of the range test's edge (the library's default, optim/range_test.h)
  double range_edge_fraction = RangeTestOptions{}.edge_fraction;
  double max_lr = 0;          // > 0: given, no range stage needed (min LR = max / 10)
  int64_t final_retries = 2;  // a final run that diverges runs again at half the LR bounds
  // The budget as time: the final run's training minutes (evaluations excluded), turned into
  // iterations at the speed measured first (0: the settings' epochs or iterations).
  double final_minutes = 0;
  // batch stage: the candidates ("": half, the same and double the settings' batch size), each
  // trained for this share of the final run's training time, the LR bounds scaled by the rule.
  std::string batch_grid;
  double batch_share = 0.25;
  std::string batch_lr_scaling = "linear";  // linear, sqrt or none, in batch / the settings' batch
  // A speed probe's iterations, the second half timed (20 misjudged resnet20's speed at batch 64
  // by 17%: docs/results.md).
  int64_t speed_iterations = 50;
};

// What a stage needs from the settings and the data: the budget in iterations.
struct TunePlan {
  Settings base;
  std::string out, bin, settings_file;
  int64_t iterations = 0;  // of the final run
  std::vector<double> wd_grid;
  std::vector<int64_t> batch_grid;
  std::vector<std::string> stages;
  TuneArgs args;
};

// OUT/tune.json: the decisions so far and the runs done (an empty object when there is none).
nlohmann::json read_tune_state(const std::string& out);
void write_tune_state(const std::string& out, const nlohmann::json& state);

// What the stages share (tune_stages.cpp). A `train` run in DIR with these flags over the tune's
// settings: resumed when it has a checkpoint, started afresh otherwise, skipped when tune.json
// records it done; returns its exit code.
int tune_train_run(const TunePlan& p, nlohmann::json& state, const std::string& dir,
                   const std::vector<std::string>& flags);
// A train run's end for a table of candidates: its final test figures, or "diverged".
nlohmann::json tune_run_outcome(int code, const std::string& dir);
// The chosen weight decay (the wd stage's, or the settings') and momentum schedule (the momentum
// stage's, or cyclical 0.95 -> 0.85), and Smith's 1cycle between two LRs as an `--lr` value.
double tune_chosen_wd(const TunePlan& p, const nlohmann::json& state);
std::string tune_chosen_momentum(const nlohmann::json& state);
std::string tune_onecycle(double lo, double hi);

// Training speed at a batch size (img/s, evaluations excluded): a short run at LR 0 in
// OUT/0-speed/batch-B whose second half is timed, measured once and kept in tune.json. Returns
// that run's exit code (0: `img_per_s` set).
int tune_speed(const TunePlan& p, nlohmann::json& state, int64_t batch, double& img_per_s);

// The stages (tune_stages.cpp), in the order tune runs them. Each returns the exit code of the
// run that ended it (0: decided and recorded in `state`; 130: interrupted, resumable).
// The time budget (--final-minutes) as iterations at the settings' batch size, in state["budget"].
int tune_stage_budget(const TunePlan& p, nlohmann::json& state);
int tune_stage_range(const TunePlan& p, nlohmann::json& state);
int tune_stage_wd(const TunePlan& p, nlohmann::json& state);
int tune_stage_momentum(const TunePlan& p, nlohmann::json& state);
int tune_stage_batch(const TunePlan& p, nlohmann::json& state);
int tune_stage_final(const TunePlan& p, nlohmann::json& state);

// The final run's schedule flags from the decisions in `state` (verb_tune.cpp): the report
// prints them as the command that repeats the final run.
std::vector<std::string> tune_final_flags(const TunePlan& p, const nlohmann::json& state);

// OUT/report.md: every decision in `state`, the figures behind it and the rule (tune_report.cpp).
void write_tune_report(const TunePlan& p, const nlohmann::json& state, const SettingsFlags& flags);

// A number as the report and the children's flags write it (%.4g), and a metrics cell read back.
std::string tune_number(double v);
double tune_cell_number(const std::string& text);  // NaN when empty or not a number

}  // namespace minidl::cli
