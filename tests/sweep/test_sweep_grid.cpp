// The grid model of `minidl_train sweep` in process (tools/train/sweep.h): expansion into runs, ids
// and seeds, the errors that name the file, the row or axis and the key, and the statistics of
// summary.md.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/file_io.h"

#include "tools/train/cli.h"
#include "tools/train/config_file.h"
#include "tools/train/sweep.h"

namespace minidl::cli {
namespace {

Grid grid(const std::string& json) {
  return grid_from_json(config_from_text(json, "grid.json"), "grid.json");
}

// The UsageError message of a grid, or "" when it is accepted.
std::string error_of(const std::string& json) {
  try {
    grid(json);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(SweepGrid, AxesAreCrossedWithRepeatsInsideAndStableIds) {
  Grid g = grid(R"({"base": {"model": "lenet", "seed": 7},
                   "axes": {"lr": [0.1, 0.2], "weight_decay": [5e-4]}, "repeats": 2})");
  ASSERT_EQ(g.runs.size(), 4u);
  EXPECT_EQ(g.axes, (std::vector<std::string>{"lr", "weight_decay"}));
  EXPECT_EQ(g.runs[0].id, "lr=0.1_weight_decay=0.0005_r0");
  EXPECT_EQ(g.runs[1].id, "lr=0.1_weight_decay=0.0005_r1");
  EXPECT_EQ(g.runs[2].id, "lr=0.2_weight_decay=0.0005_r0");
  EXPECT_EQ(g.runs[1].seed, 8);  // base seed + repeat
  EXPECT_EQ(g.runs[1].config, 0);
  EXPECT_EQ(g.runs[2].config, 1);
  EXPECT_EQ(g.runs[3].settings["lr"], 0.2);
  EXPECT_EQ(g.runs[3].settings["model"], "lenet");
  EXPECT_EQ(g.runs[3].settings["seed"], 8);
}

TEST(SweepGrid, RowsCrossAxesAndSeedsAreGiven) {
  Grid g = grid(
      R"({"rows": [{"name": "1cycle", "set": {"lr": "onecycle-smith:base=0.01,max=0.1,ss=45%"}},
                             {"name": "step", "set": {"lr": 0.01, "epochs": 85}}],
                   "axes": {"batch_size": [64, 128]}, "seeds": [11, 12, 13]})");
  ASSERT_EQ(g.runs.size(), 12u);
  EXPECT_TRUE(g.has_rows);
  EXPECT_EQ(g.runs[0].id, "1cycle_batch_size=64_r0");
  EXPECT_EQ(g.runs[2].seed, 13);
  EXPECT_EQ(g.runs[11].id, "step_batch_size=128_r2");
  EXPECT_EQ(g.runs[11].settings["epochs"], 85);
  // a schedule spec in an id: one path component
  Grid spec = grid(R"({"axes": {"lr": ["onecycle-smith:base=0.01,max=0.1,ss=45%"]}})");
  EXPECT_EQ(spec.runs[0].id, "lr=onecycle-smith-base=0.01-max=0.1-ss=45-_r0");
}

TEST(SweepGrid, ErrorsNameTheFileTheRowOrAxisAndTheKey) {
  EXPECT_HAS(error_of(R"({"axes": {"lr": []}})"), "grid.json: axis 'lr' is empty");
  EXPECT_HAS(error_of(R"({"axes": {"lrr": [0.1]}})"), "grid.json: axis 'lrr'");
  EXPECT_HAS(error_of(R"({"axes": {"lrr": [0.1]}})"), "unknown setting 'lrr'");
  EXPECT_HAS(error_of(R"({"axis": {"lr": [0.1]}})"), "grid.json: unknown key 'axis'");
  EXPECT_HAS(error_of(R"({"base": {"batch_sise": 3}})"),
             "grid.json: base: unknown setting 'batch_sise'");
  EXPECT_HAS(error_of(R"({"rows": [{"name": "a", "set": {"batch_size": "big"}}]})"),
             "grid.json: row 'a': setting 'batch_size' must be an integer");
  EXPECT_HAS(error_of(R"({"axes": {"batch_size": [64, -1]}})"),
             "grid.json: batch_size=-1: setting 'batch_size' must be positive");
  EXPECT_HAS(error_of(R"({"base": {"device": "cuda"}})"),
             "setting 'device' is chosen by the sweep");
  EXPECT_HAS(error_of(R"({"axes": {"seed": [1, 2]}})"), "setting 'seed' comes from repeats");
  EXPECT_HAS(error_of(R"({"repeats": 0})"), "repeats must be an integer in [1, 1000]");
  EXPECT_HAS(error_of(R"({"repeats": 2, "seeds": [1]})"), "repeats is 2 but seeds lists 1");
  EXPECT_HAS(error_of(R"({"rows": [{"name": "a"}, {"name": "a"}]})"), "'a' is given twice");
  EXPECT_HAS(error_of(R"({"rows": [{"name": "a", "set": {"lr": 1}}], "axes": {"lr": [1]}})"),
             "row 'a' sets 'lr', which is also an axis");
  try {
    read_grid("/nonexistent/grid.yaml");
    FAIL() << "a missing grid file was read";
  } catch (const UsageError& e) {
    EXPECT_HAS(std::string(e.what()), "/nonexistent/grid.yaml");
  }
}

TEST(SweepGrid, ADifferentGridIsNamedByWhatDiffers) {
  Grid a = grid(R"({"axes": {"lr": [0.1, 0.2]}})");
  EXPECT_EQ(grid_difference(a, a), "");
  EXPECT_HAS(grid_difference(a, grid(R"({"axes": {"lr": [0.1, 0.3]}})")), "lr=0.3_r0");
  EXPECT_HAS(grid_difference(a, grid(R"({"base": {"epochs": 3}, "axes": {"lr": [0.1, 0.2]}})")),
             "epochs");
  // and the state file reads back as the same grid
  std::vector<RunRecord> records(a.runs.size());
  EXPECT_EQ(grid_difference(grid_from_state(state_json(a, records, "cpu"), "state"), a), "");
}

// A run's results come from its metrics.csv: the last evaluation, the best, every test loss in
// order; rows without an evaluation (training only) and torn rows are skipped.
TEST(SweepGrid, RunResultReadsTheEvaluationsOfMetricsCsv) {
  const std::string dir = ::testing::TempDir() + "/run_result";
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/metrics.csv",
                    "iteration,epoch,lr,test_loss,test_acc\n"
                    "50,0.5,0.1,,\n"
                    "100,1,0.1,0.7,0.8\n"
                    "150,1.5,0.1,,\n"
                    "200,2,0.1,0.5,0.85\n"
                    "250,2.5,0.1,0.6,0.84\n"
                    "260,2.6\n");
  RunResult r = read_run_result(dir);
  EXPECT_EQ(r.final_acc, "0.84");
  EXPECT_EQ(r.best_acc, "0.85");
  EXPECT_EQ(r.final_loss, "0.6");
  EXPECT_EQ(r.best_loss, "0.5");
  EXPECT_EQ(r.iterations, 250);
  EXPECT_EQ(r.test_losses, (std::vector<double>{0.7, 0.5, 0.6}));
  EXPECT_EQ(read_run_result(dir + "/nowhere").iterations, -1);
}

TEST(SweepGrid, SummaryIsTheMeanAndSampleStdOfTheRepeats) {
  double mean = 0, std = 0;
  mean_std({0.90, 0.92, 0.97}, mean, std);
  EXPECT_NEAR(mean, 0.93, 1e-12);
  EXPECT_NEAR(std, std::sqrt(((0.03 * 0.03) + (0.01 * 0.01) + (0.04 * 0.04)) / 2), 1e-12);
  mean_std({0.5}, mean, std);
  EXPECT_TRUE(std::isnan(std));

  Grid g = grid(R"({"axes": {"lr": [0.1, 0.2]}, "repeats": 3})");
  std::vector<RunRecord> records(6);
  std::vector<RunResult> results(6);
  const char* acc[] = {"0.9", "0.92", "0.97", "0.5", "", ""};
  for (int i = 0; i < 6; ++i) {
    records[i].status = i < 4 ? "done" : i == 4 ? "failed" : "running";
    records[i].exit_code = i < 4 ? 0 : i == 4 ? 2 : -1;
    results[i].final_acc = results[i].best_acc = acc[i];
    results[i].final_loss = results[i].best_loss = i < 4 ? "0.25" : "";
  }
  std::string md = summary_md(g, records, results);
  EXPECT_HAS(md, "| 0.1 | 3/3 | 93.00 ± 3.61 | 93.00 ± 3.61 | 0.2500 ± 0.0000 |");
  EXPECT_HAS(md, "| 0.2 | 1/3 | 50.00 | 50.00 | 0.2500 |");
  EXPECT_HAS(md, "| 1 |\n");  // one failed
  std::string csv = results_csv(g, records, results);
  EXPECT_HAS(csv, "id,lr,repeat,seed,status,exit_code,iterations,final_test_acc");
  EXPECT_HAS(csv, "lr=0.2_r1,0.2,1,2,failed,2,,,,,,0.0\n");
  EXPECT_EQ(csv_cell("a,b\"c"), "\"a,b\"\"c\"");
}

// --set puts a value in every run (over base and over a row that set the key), typed as JSON when it
// parses and as text otherwise; an axis's key is refused; --repeats replaces repeats or cuts seeds.
TEST(SweepGrid, CommandLineOverrides) {
  const nlohmann::json file = config_from_text(
      R"({"base": {"model": "lenet", "batch_size": 512},
          "rows": [{"name": "a", "set": {"epochs": 85}}, {"name": "b", "set": {"lr": 0.01}}],
          "axes": {"weight_decay": [5e-4, 1e-4]}, "repeats": 4})",
      "grid.json");
  GridOverrides o;
  o.sets = {"epochs=2", "data_dir=/data/x y", "batch_size=8", "nesterov=false"};
  o.repeats = 1;
  Grid g = grid_from_json(apply_overrides(file, o, "grid.json"), "grid.json");
  ASSERT_EQ(g.runs.size(), 4u);  // 2 rows x 2 axis values x 1 repeat
  for (const SweepRun& r : g.runs) {
    EXPECT_EQ(r.settings["epochs"], 2) << r.id;  // row a's 85 too
    EXPECT_EQ(r.settings["data_dir"], "/data/x y");
    EXPECT_EQ(r.settings["batch_size"], 8);
    EXPECT_EQ(r.settings["nesterov"], false);
  }
  EXPECT_EQ(g.runs[2].settings["lr"], 0.01);

  auto error = [&](GridOverrides bad) -> std::string {
    try {
      grid_from_json(apply_overrides(file, bad, "grid.json"), "grid.json");
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  };
  GridOverrides axis;
  axis.sets = {"weight_decay=0"};
  EXPECT_HAS(error(axis), "--set weight_decay: 'weight_decay' is an axis of grid.json");
  GridOverrides no_eq;
  no_eq.sets = {"epochs"};
  EXPECT_HAS(error(no_eq), "--set 'epochs': expected key=value");
  GridOverrides unknown;
  unknown.sets = {"epoch=3"};
  EXPECT_HAS(error(unknown), "epoch");
  GridOverrides owned;
  owned.sets = {"out=/tmp/x"};
  EXPECT_HAS(error(owned), "out");
  GridOverrides too_many;
  too_many.repeats = 3;
  const nlohmann::json seeded =
      config_from_text(R"({"base": {"model": "lenet"}, "seeds": [5, 6]})", "grid.json");
  EXPECT_EQ(grid_from_json(apply_overrides(seeded, GridOverrides{{}, 1}, "g"), "g").runs.size(), 1u);
  try {
    apply_overrides(seeded, too_many, "grid.json");
    ADD_FAILURE() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_HAS(std::string(e.what()), "lists only 2 seeds");
  }
}

// The paper's protocol: repeat r runs at batch + 3 - r % 4 with msra (even r) or xavier (odd r).
TEST(SweepGrid, SmithRepeatProtocol) {
  Grid g = grid(R"({"base": {"model": "lenet", "batch_size": 128, "seed": 5},
                   "rows": [{"name": "a", "set": {"batch_size": 512}}, {"name": "b", "set": {}}],
                   "repeats": 4, "repeat_protocol": "smith"})");
  ASSERT_EQ(g.runs.size(), 8u);
  const int64_t batch[] = {515, 514, 513, 512, 131, 130, 129, 128};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(g.runs[i].settings["batch_size"], batch[i]) << g.runs[i].id;
    EXPECT_EQ(g.runs[i].settings["init"], i % 2 == 0 ? "msra" : "xavier") << g.runs[i].id;
    EXPECT_EQ(g.runs[i].seed, 5 + static_cast<int64_t>(i % 4));
  }
  EXPECT_HAS(error_of(R"({"base": {"model": "lenet"}, "repeat_protocol": "caffe"})"),
             "repeat_protocol must be seeds (the default) or smith, got 'caffe'");
  EXPECT_HAS(error_of(R"({"axes": {"init": ["msra"]}, "repeat_protocol": "smith"})"),
             "repeat_protocol smith varies 'init'");
}

}  // namespace
}  // namespace minidl::cli
