// `minidl_train tune` end to end on Fashion-MNIST (LeNet, 60 iterations: seconds): every stage
// runs, tune.json and report.md hold exactly the figures the stages' own files hold, a tune stopped
// after some stages continues with the rest and ends where an uninterrupted one ends, so does one
// stopped by Ctrl-C in the middle of a stage's run, and a changed setting is refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/safetensors.h"
#include "optim/checkpoint.h"
#include "tests/integration/cli_util.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using cli_test::run;
using cli_test::TempDir;

const std::string kTune =
    "tune --model lenet --init default --iterations 60 --batch-size 64 --eval-batches 10 "
    "--range-iterations 60 --range-max-lr 0.15 --range-eval-batches 4 --wd-grid 1e-3,1e-4,0 "
    "--threads 2 ";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The last cell of `column` in a run's metrics.csv that is not empty.
std::string last_cell(const std::string& run_dir, const std::string& column) {
  std::ifstream in(run_dir + "/metrics.csv");
  std::string line, last;
  std::getline(in, line);
  std::vector<std::string> header;
  for (size_t a = 0, b; a <= line.size(); a = b + 1) {
    b = std::min(line.find(',', a), line.size());
    header.push_back(line.substr(a, b - a));
  }
  const size_t col = std::find(header.begin(), header.end(), column) - header.begin();
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    for (size_t a = 0, b; a <= line.size(); a = b + 1) {
      b = std::min(line.find(',', a), line.size());
      cells.push_back(line.substr(a, b - a));
    }
    if (col < cells.size() && !cells[col].empty()) last = cells[col];
  }
  return last;
}

TEST(Tune, EveryStageRunsAndTheReportHoldsTheRunsFigures) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  cli_test::Result r = run(kTune + "--stages range,wd,momentum,final --out " + (dir / "t"));
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json state = read_json(dir / "t/tune.json");
  const nlohmann::json rt = read_json(dir / "t/1-range/range_test.json");
  EXPECT_EQ(state["range"]["max_lr"], rt["suggested_max_lr"]);
  EXPECT_DOUBLE_EQ(state["range"]["min_lr"].get<double>(),
                   rt["suggested_max_lr"].get<double>() / 10);
  ASSERT_EQ(state["wd"]["branches"].size(), 3u);
  std::string best;
  double best_loss = 1e300;
  for (const nlohmann::json& b : state["wd"]["branches"]) {
    const std::string bdir = b["dir"];
    EXPECT_EQ(b["test_loss"].get<std::string>(), last_cell(bdir, "test_loss")) << bdir;
    EXPECT_EQ(b["test_acc"].get<std::string>(), last_cell(bdir, "test_acc")) << bdir;
    if (std::stod(b["test_loss"].get<std::string>()) < best_loss)
      best_loss = std::stod(b["test_loss"].get<std::string>()), best = b["dir"];
  }
  const double chosen = state["wd"]["weight_decay"];
  const std::string final_dir = dir / "t/4-final";
  EXPECT_EQ(state["final"]["test_acc"].get<std::string>(), last_cell(final_dir, "test_acc"));
  // The final run used the decisions: its recorded config holds the bounds and the weight decay.
  const nlohmann::json cfg = read_json(final_dir + "/config.json");
  EXPECT_DOUBLE_EQ(cfg["weight_decay"].get<double>(), chosen);
  EXPECT_NE(cfg["lr"].dump().find("onecycle-smith"), std::string::npos) << cfg["lr"];
  // The winner is the branch with the lowest final test loss.
  char wd_text[32];
  std::snprintf(wd_text, sizeof wd_text, "%.4g", chosen);
  EXPECT_EQ(best, dir / ("t/2-wd/wd-" + std::string(wd_text)));
  // Momentum: each candidate's figures are its run's, the lower test loss won, the final run used
  // it.
  const nlohmann::json& m = state["momentum"];
  ASSERT_EQ(m["candidates"].size(), 2u);
  const nlohmann::json* winner = nullptr;
  for (const nlohmann::json& c : m["candidates"]) {
    EXPECT_EQ(c["test_loss"].get<std::string>(), last_cell(c["dir"], "test_loss")) << c["dir"];
    if (!winner || std::stod(c["test_loss"].get<std::string>()) <
                       std::stod((*winner)["test_loss"].get<std::string>()))
      winner = &c;
  }
  EXPECT_EQ(m["momentum"], (*winner)["momentum"]);
  EXPECT_EQ(read_json((*winner)["dir"].get<std::string>() + "/config.json")["momentum"],
            cfg["momentum"]);
  const std::string report = read_text(dir / "t/report.md");
  for (const nlohmann::json& c : m["candidates"])
    EXPECT_NE(report.find(c["test_loss"].get<std::string>()), std::string::npos) << report;
  for (const nlohmann::json& b : state["wd"]["branches"])
    EXPECT_NE(report.find(b["test_loss"].get<std::string>()), std::string::npos) << report;
  EXPECT_NE(report.find("minidl_train train "), std::string::npos) << report;
  EXPECT_NE(r.output.find("tune: final test accuracy"), std::string::npos) << r.output;

  // Stopped after two stages, then the same command: the decided stages are skipped and the end is
  // the same, bit for bit (a CPU run is deterministic).
  r = run(kTune + "--stages range,wd --out " + (dir / "u"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "u/4-final"));
  r = run(kTune + "--stages range,wd,momentum,final --out " + (dir / "u"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("stage range: decided earlier"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stage wd: decided earlier"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(dir / "u/tune.json")["final"]["test_acc"], state["final"]["test_acc"]);
  EXPECT_EQ(last_cell(dir / "u/4-final", "test_loss"), last_cell(final_dir, "test_loss"));

  // Other settings in the same folder are refused, with nothing run.
  r = run(kTune + "--weight-decay 1e-2 --out " + (dir / "u"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("holds a tune of other settings"), std::string::npos) << r.output;
}

// Ctrl-C (SIGINT to tune, which passes it on) while the final run trains: tune exits 130 and says
// which stage; the same command resumes that run from the checkpoint its interruption wrote, skips
// the decided stages and ends with the uninterrupted tune's figures, bit for bit.
TEST(Tune, SigintInTheMiddleOfTheFinalRunResumesToTheSameEnd) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string cmd = kTune + "--stages range,wd,final --out ";
  cli_test::Result whole = run(cmd + (dir / "a"));
  ASSERT_EQ(whole.code, 0) << whole.output;

  pid_t pid = cli_test::start(cmd + (dir / "b"), dir / "b.log");
  // metrics.csv appears as the final run's loop starts (its SIGINT handler installed with it).
  ASSERT_TRUE(cli_test::wait_for_path(dir / "b/4-final/metrics.csv", 300));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);
  ASSERT_EQ(cli_test::wait_for(pid), 130) << read_text(dir / "b.log");
  EXPECT_NE(read_text(dir / "b.log").find("tune interrupted in stage final"), std::string::npos)
      << read_text(dir / "b.log");
  EXPECT_FALSE(read_json(dir / "b/tune.json").contains("final"));

  cli_test::Result r = run(cmd + (dir / "b"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("stage wd: decided earlier"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(dir / "b/tune.json")["final"]["test_acc"],
            read_json(dir / "a/tune.json")["final"]["test_acc"]);
  EXPECT_EQ(last_cell(dir / "b/4-final", "test_loss"), last_cell(dir / "a/4-final", "test_loss"));
}

// A final run that diverges runs again at half the LR bounds, as often as --final-retries says;
// when every attempt diverges, tune fails with train's exit code and the report lists them.
TEST(Tune, AFinalRunThatDivergesRunsAgainAtHalfTheBounds) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  cli_test::Result r =
      run(kTune + "--stages final --max-lr 1e6 --final-retries 1 --out " + (dir / "t"));
  EXPECT_EQ(r.code, 3) << r.output;
  const nlohmann::json state = read_json(dir / "t/tune.json");
  ASSERT_EQ(state["final_diverged"].size(), 1u);
  EXPECT_EQ(state["final_diverged"][0]["max_lr"].get<double>(), 1e6);
  EXPECT_FALSE(state.contains("final"));
  const nlohmann::json retry = read_json(dir / "t/4-final-retry1/config.json");
  EXPECT_NE(retry["lr"].dump().find("max=5e+05"), std::string::npos) << retry["lr"];
  const std::string report = read_text(dir / "t/report.md");
  EXPECT_NE(report.find("diverged at every attempt"), std::string::npos) << report;
}

TEST(Tune, InitFromStartsARunFromAnotherRunsWeights) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string common =
      "train --model lenet --batch-size 32 --eval-batches 2 --threads 2 --momentum 0.9 ";
  cli_test::Result r = run(common + "--iterations 5 --lr fixed:value=0.01 --out " + (dir / "a"));
  ASSERT_EQ(r.code, 0) << r.output;
  // LR 0 and no weight decay: the weights stay those it started from.
  r = run(common + "--iterations 1 --lr fixed:value=0 --weight-decay 0 --init-from " + (dir / "a") +
          " --out " + (dir / "b"));
  ASSERT_EQ(r.code, 0) << r.output;
  Checkpoint a = load_checkpoint(dir / "a"), b = load_checkpoint(dir / "b");
  ASSERT_EQ(a.model.size(), b.model.size());
  for (const auto& [name, t] : a.model)
    EXPECT_TRUE(testing::all_close(b.model.at(name), t, 0, 0)) << name;
  r = run(common + "--iterations 1 --init-from " + (dir / "nowhere") + " --out " + (dir / "c"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("init_from"), std::string::npos) << r.output;
}

// A time budget and the batch stage: the speed probes' img/s are their metrics' last row, the
// budget's iterations and each candidate's come from those speeds by the stated arithmetic (equal
// training time), the lowest test loss wins and the final run trains at its size for the budget's
// time; the same command decides nothing again, and other budgets or bad values are refused.
TEST(Tune, BatchSizesCompareAtEqualTrainingTimeWithinAMinutesBudget) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string common =
      "tune --model lenet --init default --batch-size 64 --eval-batches 10 --range-iterations 60 "
      "--range-max-lr 0.15 --range-eval-batches 4 --threads 2 --stages range,batch,final "
      "--batch-grid 32,64,128 --out " +
      (dir / "t");
  const std::string cmd = common + " --final-minutes 0.03";
  cli_test::Result r = run(cmd);
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json state = read_json(dir / "t/tune.json");
  auto speed = [&](int b) {  // the probe's figure, and the run it came from
    const nlohmann::json& s = state["speed"][std::to_string(b)];
    EXPECT_DOUBLE_EQ(s["img_per_s"].get<double>(),
                     std::stod(last_cell(s["dir"].get<std::string>(), "img_per_s")));
    return s["img_per_s"].get<double>();
  };
  const double ips0 = speed(64);
  const nlohmann::json& budget = state["budget"];
  EXPECT_EQ(budget["iterations"].get<int64_t>(), std::llround(0.03 * 60 * ips0 / 64));
  const double budget_s = budget["iterations"].get<int64_t>() * 64.0 / ips0;
  const nlohmann::json& batch = state["batch"];
  EXPECT_DOUBLE_EQ(batch["seconds"].get<double>(), 0.25 * budget_s);
  ASSERT_EQ(batch["candidates"].size(), 3u);
  const double max_lr = state["range"]["max_lr"];
  const nlohmann::json* winner = nullptr;
  for (const nlohmann::json& c : batch["candidates"]) {
    const int b = c["batch_size"];
    const std::string cdir = c["dir"];
    EXPECT_EQ(c["iterations"].get<int64_t>(),
              std::max<int64_t>(1, std::llround(0.25 * budget_s * speed(b) / b)))
        << cdir;
    EXPECT_EQ(c["test_loss"].get<std::string>(), last_cell(cdir, "test_loss")) << cdir;
    const nlohmann::json cfg = read_json(cdir + "/config.json");
    EXPECT_EQ(cfg["batch_size"].get<int>(), b);
    EXPECT_EQ(cfg["iterations"], c["iterations"]);
    EXPECT_DOUBLE_EQ(c["max_lr"].get<double>(), max_lr * b / 64.0);  // linear scaling
    char text[32];
    std::snprintf(text, sizeof text, "max=%.4g,", max_lr * b / 64.0);
    EXPECT_NE(cfg["lr"].dump().find(text), std::string::npos) << cfg["lr"];
    if (!winner || std::stod(c["test_loss"].get<std::string>()) <
                       std::stod((*winner)["test_loss"].get<std::string>()))
      winner = &c;
  }
  const int bw = (*winner)["batch_size"];
  EXPECT_EQ(batch["batch_size"].get<int>(), bw);
  const nlohmann::json cfg = read_json(dir / "t/4-final/config.json");
  EXPECT_EQ(cfg["batch_size"].get<int>(), bw);
  EXPECT_EQ(cfg["iterations"].get<int64_t>(), std::llround(budget_s * speed(bw) / bw));
  EXPECT_EQ(cfg["iterations"], batch["iterations"]);
  const std::string report = read_text(dir / "t/report.md");
  for (const nlohmann::json& c : batch["candidates"])
    EXPECT_NE(report.find(c["test_loss"].get<std::string>()), std::string::npos) << report;
  EXPECT_NE(report.find("--batch-size " + std::to_string(bw)), std::string::npos) << report;
  EXPECT_NE(report.find("| `3b-batch` |"), std::string::npos) << report;

  r = run(cmd);  // done: every stage decided earlier, the same end, no probe run again
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("stage batch: decided earlier"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("0-speed"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(dir / "t/tune.json")["final"], state["final"]);

  for (const std::string& other : {common + " --final-minutes 0.04", common}) {
    r = run(other);  // another budget, or none, for a tune that has one
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("another budget"), std::string::npos) << r.output;
  }
  r = run(kTune + "--final-minutes 1 --out " + (dir / "u"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("two budgets"), std::string::npos) << r.output;
  r = run(kTune + "--batch-grid 64,0 --out " + (dir / "u"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("'0' is not a batch size"), std::string::npos) << r.output;
  r = run(kTune + "--batch-lr-scaling cubic --out " + (dir / "u"));
  EXPECT_EQ(r.code, 2) << r.output;
}

}  // namespace
}  // namespace minidl
