// `minidl_train sweep` end to end, with the real binary and short LeNet runs on the synthetic
// dataset (a second or so each, 1 thread per run): a sweep killed with SIGKILL and started again
// ends as an uninterrupted one does (bit for bit), a failing run is recorded while the others
// finish, the emitted Slurm script run by hand plus `sweep gather` gives the same results,
// summary.md agrees with results.csv, and bad use is one line with exit 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_io.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "tests/integration/cli_util.h"
#include "tests/sweep/sweep_util.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;
using cli_test::run;
using cli_test::TempDir;
using sweep_test::read_results;
using sweep_test::Table;
using sweep_test::text_of;

// 2 learning rates x 2 repeats of 60 iterations, a checkpoint every 10 (random images and labels:
// the accuracy is chance, but every figure must still repeat exactly).
const char* kGridYaml =
    "base:\n  model: lenet\n  dataset: synthetic\n  batch_size: 32\n  iterations: 60\n"
    "  eval_every: 30\n  eval_batches: 4\n  log_every: 10\n  checkpoint_every: 10\n"
    "  keep_checkpoints: 10\n  workers: 1\n  momentum: 0.9\naxes:\n  lr: [0.001, 0.002]\nrepeats: "
    "2\n";
const char* kGridJson =
    R"({"base": {"model": "lenet", "dataset": "synthetic", "batch_size": 32, "iterations": 60,
    "eval_every": 30, "eval_batches": 4, "log_every": 10, "checkpoint_every": 10,
    "keep_checkpoints": 10, "workers": 1, "momentum": 0.9}, "axes": {"lr": [0.001, 0.002]},
    "repeats": 2})";
const char* kIds[] = {"lr=0.001_r0", "lr=0.001_r1", "lr=0.002_r0", "lr=0.002_r1"};

// What must not depend on how the runs were run: everything but the wall time.
void expect_same_results(const Table& a, const Table& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [id, row] : a) {
    ASSERT_TRUE(b.count(id)) << id;
    for (const auto& [column, cell] : row)
      if (column != "wall_s") EXPECT_EQ(b.at(id).at(column), cell) << id << " " << column;
  }
}

std::string sweep(const std::string& grid, const std::string& out, const std::string& extra = "") {
  return "sweep " + grid + " --out " + out + " --slots 2 --threads-per-run 1 " + extra;
}

// summary.md's cells, recomputed here from results.csv: mean ± sample std of the final accuracy
// over the repeats of each learning rate, shown in % (scaled after, as summary.md does, so that a
// mean on a rounding boundary rounds alike).
void expect_summary_matches(const std::string& dir) {
  Table t = read_results(dir + "/results.csv");
  const std::string md = text_of(dir + "/summary.md");
  for (const char* lr : {"0.001", "0.002"}) {
    std::vector<double> acc;
    for (const auto& [id, row] : t)
      if (row.at("lr") == lr) acc.push_back(std::stod(row.at("final_test_acc")));
    ASSERT_EQ(acc.size(), 2u);
    const double mean = (acc[0] + acc[1]) / 2;
    const double std =
        std::sqrt(((acc[0] - mean) * (acc[0] - mean) + (acc[1] - mean) * (acc[1] - mean)) / 1);
    char cell[128];
    std::snprintf(cell, sizeof cell, "| %s | 2/2 | %.2f ± %.2f |", lr, 100 * mean, 100 * std);
    EXPECT_NE(md.find(cell), std::string::npos) << cell << "\n" << md;
  }
}

std::string final_weights(const std::string& run_dir) {
  return text_of(latest_checkpoint(run_dir) + "/model.safetensors");
}

TEST(Sweep, KilledWithSigkillAndRestartedEndsAsAnUninterruptedSweep) {
  TempDir dir;
  const std::string grid = cli_test::write_config(dir, "grid", kGridYaml, kGridJson);
  cli_test::Result a = run(sweep(grid, dir / "a"));
  ASSERT_EQ(a.code, 0) << a.output;
  expect_summary_matches(dir / "a");

  // Kill the second sweep once a run is done while another is between two checkpoints.
  pid_t pid = cli_test::start(sweep(grid, dir / "b"), dir / "b.log");
  auto ready = [&] {
    std::ifstream in(dir / "b/sweep_state.json");
    nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
    if (!state.is_object()) return false;
    int done = 0;
    bool midway = false;
    for (const nlohmann::json& r : state["runs"]) {
      done += r["status"] == "done";
      std::string last = latest_checkpoint(dir / ("b/runs/" + r["id"].get<std::string>()));
      if (r["status"] == "running" && !last.empty())
        midway |= std::stoi(fs::path(last).filename().string().substr(5)) <= 40;
    }
    return done >= 1 && midway;
  };
  bool killed_midway = false;
  for (int i = 0; i < 6000 && !killed_midway; ++i) {
    killed_midway = ready();
    if (!killed_midway) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(cli_test::wait_for(pid), 128 + SIGKILL);
  ASSERT_TRUE(killed_midway) << text_of(dir / "b.log");

  cli_test::Result b = run(sweep(grid, dir / "b"));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NE(b.output.find(": resumed from iter_"), std::string::npos) << b.output;
  EXPECT_EQ(b.output.find("0 finished before"), std::string::npos) << b.output;
  expect_same_results(read_results(dir / "a/results.csv"), read_results(dir / "b/results.csv"));
  for (const char* id : kIds)
    EXPECT_TRUE(final_weights(dir / ("a/runs/" + std::string(id))) ==
                final_weights(dir / ("b/runs/" + std::string(id))))
        << id;
  // started again, it has nothing left to do
  cli_test::Result c = run(sweep(grid, dir / "b"));
  EXPECT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("4 finished before, 0 to run"), std::string::npos) << c.output;
}

TEST(Sweep, SigintStopsTheRunsWithACheckpointAndTheSameCommandFinishesThem) {
  TempDir dir;
  const std::string grid = cli_test::write_config(dir, "grid", kGridYaml, kGridJson);
  pid_t pid = cli_test::start(sweep(grid, dir / "s"), dir / "s.log");
  bool ready = false;  // once a run has a checkpoint
  for (int i = 0; i < 6000 && !ready; ++i) {
    for (const char* id : kIds)
      ready |= !latest_checkpoint(dir / ("s/runs/" + std::string(id))).empty();
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGINT);
  EXPECT_EQ(cli_test::wait_for(pid), 130) << text_of(dir / "s.log");
  ASSERT_TRUE(ready) << text_of(dir / "s.log");
  nlohmann::json state = nlohmann::json::parse(text_of(dir / "s/sweep_state.json"));
  int interrupted = 0;
  for (const nlohmann::json& r : state["runs"]) {
    EXPECT_NE(r["status"], "running") << r.dump();
    interrupted += r["status"] == "interrupted";
  }
  EXPECT_GE(interrupted, 1) << state.dump(1);

  cli_test::Result r = run(sweep(grid, dir / "s"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& [id, row] : read_results(dir / "s/results.csv")) {
    EXPECT_EQ(row.at("status"), "done") << id;
    EXPECT_EQ(row.at("iterations"), "60") << id;
  }
}

TEST(Sweep, AFailingRunIsRecordedAndTheOthersFinish) {
  TempDir dir;
  const std::string grid = cli_test::write_config(
      dir, "grid",
      "base: {dataset: synthetic, batch_size: 32, iterations: 20, eval_batches: 2, workers: 1, lr: "
      "0.001}\n"
      "rows:\n  - {name: good, set: {model: lenet}}\n  - {name: broken, set: {model: "
      "no-such-net}}\n"
      "  - {name: also-good, set: {model: lenet, lr: 0.002}}\n",
      R"({"base": {"dataset": "synthetic", "batch_size": 32, "iterations": 20, "eval_batches": 2,
      "workers": 1, "lr": 0.001}, "rows": [{"name": "good", "set": {"model": "lenet"}},
      {"name": "broken", "set": {"model": "no-such-net"}},
      {"name": "also-good", "set": {"model": "lenet", "lr": 0.002}}]})");
  cli_test::Result r = run(sweep(grid, dir / "s"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("1 of 3 runs failed: broken_r0 (exit 2)"), std::string::npos) << r.output;
  Table t = read_results(dir / "s/results.csv");
  EXPECT_EQ(t["broken_r0"]["status"], "failed");
  EXPECT_EQ(t["broken_r0"]["exit_code"], "2");
  EXPECT_EQ(t["broken_r0"]["row"], "broken");
  for (const char* id : {"good_r0", "also-good_r0"}) {
    EXPECT_EQ(t[id]["status"], "done") << id;
    EXPECT_EQ(t[id]["exit_code"], "0") << id;
    EXPECT_EQ(t[id]["iterations"], "20") << id;
    EXPECT_FALSE(t[id]["final_test_acc"].empty()) << id;
  }
  EXPECT_NE(text_of(dir / "s/runs/broken_r0/output.txt").find("no-such-net"), std::string::npos);
  std::string state = text_of(dir / "s/sweep_state.json");
  EXPECT_NE(state.find("\"failed\""), std::string::npos);
}

TEST(Sweep, EmittedSlurmScriptRunsTheSameRunsAndGatherMatches) {
  TempDir dir;
  const std::string grid = cli_test::write_config(dir, "grid", kGridYaml, kGridJson);
  cli_test::Result a = run(sweep(grid, dir / "a"));
  ASSERT_EQ(a.code, 0) << a.output;

  cli_test::Result e =
      run("sweep " + grid + " --out " + (dir / "c") + " --emit slurm --threads-per-run 1");
  ASSERT_EQ(e.code, 0) << e.output;
  const std::string script = text_of(dir / "c/sweep.sbatch");
  EXPECT_NE(script.find("#SBATCH --array=0-3\n"), std::string::npos) << script;
  EXPECT_FALSE(fs::exists(dir / "c/runs/lr=0.001_r0/metrics.csv")) << "--emit ran something";
  // the array's tasks, one after another, as Slurm would start them
  for (int i = 0; i < 4; ++i) {
    std::string cmd = "SLURM_ARRAY_TASK_ID=" + std::to_string(i) + " bash '" +
                      (dir / "c/sweep.sbatch") + "' > '" + (dir / "task.log") + "' 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << text_of(dir / "task.log");
  }
  cli_test::Result g = run("sweep gather " + (dir / "c"));
  ASSERT_EQ(g.code, 0) << g.output;
  EXPECT_NE(g.output.find("4 runs, 4 done"), std::string::npos) << g.output;
  expect_same_results(read_results(dir / "a/results.csv"), read_results(dir / "c/results.csv"));
  expect_summary_matches(dir / "c");
}

TEST(Sweep, BadUseIsOneLineWithExitTwo) {
  TempDir dir;
  const std::string grid = cli_test::write_config(dir, "grid", kGridYaml, kGridJson);
  const std::string bad =
      cli_test::write_config(dir, "bad", "axes:\n  lr: []\n", R"({"axes": {"lr": []}})");
  const std::string unknown = cli_test::write_config(dir, "unknown", "axes:\n  momentun: [0.9]\n",
                                                     R"({"axes": {"momentun": [0.9]}})");
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"sweep " + (dir / "missing.yaml") + " --out " + (dir / "o"), "missing.yaml"},
      {"sweep " + bad + " --out " + (dir / "o"), "axis 'lr' is empty"},
      {"sweep " + unknown + " --out " + (dir / "o"), "unknown setting 'momentun'"},
      {"sweep " + grid + " --out " + (dir / "o") + " --slots 0", "--slots"},
      {"sweep " + grid + " --out " + (dir / "o") + " --emit pbs", "--emit: unknown 'pbs'"},
      {"sweep " + grid, "--out DIR is required"},
      {"sweep gather " + (dir / "o"), "not a sweep directory"},
  };
  for (const Case& c : cases) {
    cli_test::Result r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(dir / "o")) << c.args << " wrote its --out";
  }
  // a different grid into the same directory names what differs
  ASSERT_EQ(run("sweep " + grid + " --out " + (dir / "e") + " --emit slurm").code, 0);
  const std::string other = cli_test::write_config(
      dir, "other", std::string(kGridYaml) + "seeds: [5, 6]\n",
      std::string(kGridJson).substr(0, std::string(kGridJson).rfind('}')) + ", \"seeds\": [5, 6]}");
  cli_test::Result r = run("sweep " + other + " --out " + (dir / "e") + " --emit slurm");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("holds a sweep of another grid"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("seed"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace minidl
