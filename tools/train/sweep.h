// The model behind `minidl_train sweep` (docs/cli.md, "sweep"): a grid file expanded into runs, the
// record each run keeps in its directory, the sweep's state file, and the results gathered from the
// runs' directories alone (so `sweep gather` after a Slurm array job writes what a local sweep
// writes).
//
//   DIR/sweep_state.json          the grid's runs (id, settings, seed) and each one's status
//   DIR/runs/<id>/sweep_config.json  the settings `train --config` gets (grid + out/device/threads)
//   DIR/runs/<id>/sweep_run.json  the run's record: status, exit code, attempts, wall time
//   DIR/runs/<id>/output.txt      the run's stdout and stderr (train's own log is log.txt)
//   DIR/results.csv, DIR/summary.md
//
// The run records are the truth about what ran (whoever ran it: the local sweep or a Slurm task);
// sweep_state.json copies their statuses for the user and holds the grid that DIR was made for.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace minidl::cli {

// One run: a configuration (a row and one value per axis) and a repeat.
struct SweepRun {
  std::string id;      // stable and filesystem-safe: "lr=0.1_weight_decay=0.0005_r0"
  int64_t config = 0;  // the configuration's index: the repeats of one share it
  std::string row;     // the row's name; "" in a grid without rows
  nlohmann::json varied = nlohmann::json::object();  // axis key -> this run's value
  int64_t repeat = 0;
  int64_t seed = 0;
  nlohmann::json settings = nlohmann::json::object();  // base + row + axes + seed (train's keys)
};

struct Grid {
  std::vector<std::string> axes;  // the axis keys (sorted): results.csv's columns
  bool has_rows = false;
  std::vector<SweepRun> runs;  // configuration after configuration, repeats inside
};

constexpr int64_t kMaxSweepRuns = 100'000;

// Changes to a grid given on the command line (`sweep --set key=value --repeats N`): a setting for
// every run (over base and rows; an axis's key is refused), and the number of repeats (the first N
// seeds of a `seeds` list). For the machine's own paths (data_dir) and for quick passes over a
// grid.
struct GridOverrides {
  std::vector<std::string> sets;  // "key=value"; value read as JSON when it parses, else text
  int64_t repeats = 0;            // 0: the grid's own
  bool empty() const { return sets.empty() && repeats == 0; }
};

// Reads and expands a grid file (YAML or JSON: config_file.h). Every run's settings are checked as
// `train` checks its own; a UsageError names the file, the row or axis, and the key.
Grid read_grid(const std::string& path, const GridOverrides& overrides = {});
// The grid file's contents with the overrides applied (UsageError for a bad one).
nlohmann::json apply_overrides(nlohmann::json grid, const GridOverrides& overrides,
                               const std::string& name);
Grid grid_from_json(const nlohmann::json& grid, const std::string& name);

// Settings a grid may not set: the sweep chooses them for each run (out: DIR/runs/<id>; device:
// the placement; threads: --threads-per-run).
const std::vector<std::string>& sweep_owned_keys();

// "" when `now` describes the same runs as `before`, else the first difference in words.
std::string grid_difference(const Grid& before, const Grid& now);

// DIR/runs/<id>/sweep_run.json.
struct RunRecord {
  std::string status = "pending";  // pending | running | done | failed | interrupted
  int exit_code = -1;              // the last attempt's; -1: none yet
  int attempts = 0;                // processes started for this run
  double wall_s = 0;               // wall time of all attempts together
  bool finished() const { return status == "done" || status == "failed"; }
};
std::string run_dir(const std::string& sweep_dir, const SweepRun& run);
RunRecord read_run_record(const std::string& run_dir);  // pending when there is none
void write_run_record(const std::string& run_dir, const RunRecord& record);

// The state file: the grid's runs and a copy of their records' statuses.
nlohmann::json state_json(const Grid& grid, const std::vector<RunRecord>& records,
                          const std::string& placement);
Grid grid_from_state(const nlohmann::json& state, const std::string& name);

// A run's figures from its metrics.csv: the last evaluation and the best one. Cells are kept as
// train wrote them ("" when there was no evaluation), so results.csv repeats them exactly.
struct RunResult {
  std::string final_acc, best_acc, final_loss, best_loss;
  int64_t iterations = -1;          // the last row's; -1: no metrics
  std::vector<double> test_losses;  // every evaluation's, in order
  double img_per_s = NAN;  // the last row's training speed (its window since the row before)
  double elapsed_s = NAN;  // the last row's training seconds (evaluations excluded)
};
RunResult read_run_result(const std::string& run_dir);

// results.csv and summary.md as text; write_results builds both from the runs' directories and
// writes them atomically.
std::string results_csv(const Grid& grid, const std::vector<RunRecord>& records,
                        const std::vector<RunResult>& results);
std::string summary_md(const Grid& grid, const std::vector<RunRecord>& records,
                       const std::vector<RunResult>& results);
void write_results(const std::string& sweep_dir, const Grid& grid);

// A setting's value as a user reads it in ids and tables: 0.0005, not 0.00050000000000000001.
std::string value_text(const nlohmann::json& v);
// A CSV cell: quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_cell(const std::string& text);
// Mean and sample standard deviation (n - 1; NaN for fewer than two values).
void mean_std(const std::vector<double>& values, double& mean, double& std);

}  // namespace minidl::cli
