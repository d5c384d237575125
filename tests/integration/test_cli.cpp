// minidl_train end to end on the real Fashion-MNIST: every verb as a user runs it, bad use (exit 2,
// one line, nothing written), bit-identical resume after SIGKILL, SIGINT (exit 130 with a
// checkpoint), divergence (exit 3), and predict agreeing with eval.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/npy.h"
#include "core/safetensors.h"
#include "data/idx.h"
#include "optim/checkpoint.h"
#include "tests/integration/cli_util.h"
#include "tests/testing.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;
using cli_test::run;
using cli_test::TempDir;

// A short, fast experiment: LeNet (or a given model) on Fashion-MNIST, 2 threads.
std::string quick(const std::string& out, const std::string& extra = "") {
  return "train --model lenet --batch-size 64 --iterations 60 --eval-every 30 --eval-batches 4 "
         "--log-every 10 "
         "--lr onecycle-smith:base=0.01,max=0.05,ss=25 --momentum "
         "cyclic-momentum-smith:max=0.95,min=0.85,ss=25 "
         "--threads 2 --out " +
         out + " " + extra;
}

TEST(Cli, BadUseExitsTwoWithOneLineAndWritesNothing) {
  TempDir dir;
  std::string out = dir / "run";
  const std::pair<std::string, std::string> cases[] = {
      {"train --model resnet21 --out " + out, "unknown model 'resnet21'"},
      {"train --dataset imagenet22k --out " + out, "unknown dataset 'imagenet22k'"},
      {"train --lr onecycle:base=1 --out " + out, "'onecycle' is unknown"},
      {"train --batch-size 12x --out " + out, "--batch-size: expected an integer, got '12x'"},
      {"train --config " + (dir / "missing.yaml") + " --out " + out, "missing.yaml: no such file"},
      {"train --device cuda:7 --out " + out, "cuda:7"},
      {"train --cuda-graph --out " + out, "'cuda_graph' needs a CUDA device; device is cpu"},
      {"train --dataset mnist --data-dir /nonexistent --out " + out, "/nonexistent"},
      {"eval --weights " + (dir / "none.safetensors"), "none.safetensors"},
      {"schedule --iterations -3", "--iterations"},
      {"trian", "trian"},
  };
  for (auto& [args, fragment] : cases) {
    cli_test::Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << args << " wrote " << out;
  }
}

TEST(Cli, ConfigFileWithFlagOverrides) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string exp = cli_test::write_config(
      dir, "exp",
      "model: lenet\nbatch_size: 64\niterations: 5\nmomentum: 0.9\neval_batches: 2\n"
      "threads: 2\nlr:\n  name: multistep\n  base: 0.01\n  gamma: 0.5\n  steps: [40%, 80%]\n",
      R"({"model": "lenet", "batch_size": 64, "iterations": 5, "momentum": 0.9, "eval_batches": 2,
          "threads": 2, "lr": {"name": "multistep", "base": 0.01, "gamma": 0.5,
          "steps": ["40%", "80%"]}})");
  cli_test::Result r = run("train --config " + exp + " --batch-size 32 --out " + (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream cfg(dir / "run/config.json");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"batch_size\": 32"), std::string::npos) << text;  // the flag wins
  EXPECT_NE(text.find("\"model\": \"lenet\""), std::string::npos) << text;
  // the map-form schedule, its shares of training turned into iterations (5 in all)
  std::ifstream log(dir / "run/log.txt");
  std::string logged((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("lr multistep:base=0.01,gamma=0.5,steps=2;4"), std::string::npos) << logged;
  const std::string bad = cli_test::write_config(dir, "bad", "modle: lenet\n", R"({"modle": "lenet"})");
  r = run("train --config " + bad + " --out " + (dir / "run2"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown setting 'modle'"), std::string::npos) << r.output;
}

TEST(Cli, TrainWritesTheRunDirectoryAndEvalPredictAgree) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  std::string out = dir / "run";
  cli_test::Result r = run(quick(out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("test accuracy"), std::string::npos) << r.output;
  for (const char* f : {"config.json", "log.txt", "metrics.csv"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_FALSE(latest_checkpoint(out).empty());
  std::ifstream metrics(out + "/metrics.csv");
  std::string header;
  std::getline(metrics, header);
  EXPECT_EQ(header,
            "iteration,epoch,lr,momentum,train_loss,train_acc,test_loss,test_acc,test_top5,img_per_"
            "s,elapsed_s");

  // eval on the whole test set, then predict on the same images as u8: same top-1.
  r = run("eval --weights " + out + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  size_t at = r.output.find("top-1 ");
  ASSERT_NE(at, std::string::npos) << r.output;
  double eval_top1 = std::stod(r.output.substr(at + 6)) / 100;
  Tensor images = read_idx_file(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz");
  Tensor labels = read_idx_file(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
  save_npy(dir / "x.npy", images);
  r = run("predict --weights " + out + " --input " + (dir / "x.npy") + " --output " +
          (dir / "logits.npy") + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  Tensor logits = load_npy(dir / "logits.npy");
  ASSERT_EQ(logits.shape(), (Shape{10000, 10}));
  std::vector<float> l = logits.to_vector<float>();
  std::vector<int64_t> y = labels.to(DType::i64).to_vector<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < 10000; ++i)
    correct +=
        std::max_element(l.begin() + i * 10, l.begin() + i * 10 + 10) - (l.begin() + i * 10) ==
        y[i];
  EXPECT_NEAR(correct / 10000.0, eval_top1, 0.00015) << "predict's logits disagree with eval";

  // A second run into the same directory must not clobber the first.
  r = run(quick(out));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
}

// Trains `iterations` with checkpoints every 10 iterations; a dropout-free BN network on 2 threads.
std::string resumable(const std::string& out) {
  return "train --model resnet20 --batch-size 16 --iterations 40 --checkpoint-every 10 "
         "--keep-checkpoints 10 "
         "--eval-every 1000 --eval-batches 2 --log-every 10 --lr "
         "onecycle-smith:base=0.02,max=0.2,ss=15 "
         "--momentum cyclic-momentum-smith:max=0.95,min=0.85,ss=15 --threads 2 --workers 2 --out " +
         out;
}

TEST(Cli, ResumeAfterSigkillIsBitIdentical) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  cli_test::Result a = run(resumable(dir / "a"));
  ASSERT_EQ(a.code, 0) << a.output;

  // Kill the second run with SIGKILL once its first checkpoint is on disk (between checkpoints).
  pid_t pid = cli_test::start(resumable(dir / "b"), dir / "b.log");
  ASSERT_TRUE(cli_test::wait_for_path(dir / "b/checkpoints/iter_000000010", 120));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(cli_test::wait_for(pid), 128 + SIGKILL);
  ASSERT_LT(std::stoi(fs::path(latest_checkpoint(dir / "b")).filename().string().substr(5)), 40)
      << "the run finished before it was killed";
  cli_test::Result b = run("train --resume " + (dir / "b"));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NE(b.output.find("resumed from"), std::string::npos) << b.output;

  TensorMap wa = load_checkpoint(dir / "a").model, wb = load_checkpoint(dir / "b").model;
  ASSERT_EQ(wa.size(), wb.size());
  for (auto& [name, t] : wa)
    EXPECT_TRUE(testing::all_close(wb.at(name).to(DType::f64), t.to(DType::f64), 0, 0)) << name;
  TensorMap oa = load_checkpoint(dir / "a").optimizer, ob = load_checkpoint(dir / "b").optimizer;
  for (auto& [name, t] : oa)
    EXPECT_TRUE(testing::all_close(ob.at(name).to(DType::f64), t.to(DType::f64), 0, 0)) << name;
  // and it reports what the uninterrupted run reported: metrics.csv without its timing columns
  auto rows = [](const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
      out.push_back(line.substr(0, line.rfind(',', line.rfind(',') - 1)));
    return out;
  };
  EXPECT_EQ(rows(dir / "b/metrics.csv"), rows(dir / "a/metrics.csv"));
}

// The last metrics row's train_loss (column 5).
double last_train_loss(const std::string& run_dir) {
  std::ifstream f(run_dir + "/metrics.csv");
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  std::stringstream row(last);
  std::string cell;
  for (int i = 0; i < 5; ++i) std::getline(row, cell, ',');
  return std::stod(cell);
}

// --memory-format channels_last trains the same network to the same loss, and its checkpoint resumes
// in the other layout. The layouts' sums differ in order only, but training at batch 16 amplifies
// rounding: after ~5 steps the losses part by a few per cent, as oneDNN's and the reference
// convolution's NCHW runs do (MINIDL_CPU_CONV). Hence 4 steps at a small LR.
TEST(Cli, ChannelsLastTrainsLikeNchw) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string base =
      "train --model resnet20 --batch-size 16 --iterations 4 --eval-every 4 --eval-batches 2 "
      "--log-every 2 --checkpoint-every 2 --lr 0.005 --threads 2 --out ";
  cli_test::Result a = run(base + (dir / "nchw"));
  ASSERT_EQ(a.code, 0) << a.output;
  cli_test::Result b = run(base + (dir / "nhwc") + " --memory-format channels_last");
  ASSERT_EQ(b.code, 0) << b.output;
  const double la = last_train_loss(dir / "nchw"), lb = last_train_loss(dir / "nhwc");
  EXPECT_NEAR(lb, la, 1e-3 * la);
  // The channels-last run's iteration-2 checkpoint, resumed in NCHW, ends where both did.
  fs::remove_all(latest_checkpoint(dir / "nhwc"));
  b = run("train --resume " + (dir / "nhwc") + " --memory-format contiguous");
  EXPECT_EQ(b.code, 0) << b.output;
  EXPECT_NE(b.output.find("resumed from"), std::string::npos) << b.output;
  EXPECT_NEAR(last_train_loss(dir / "nhwc"), la, 1e-3 * la);
  b = run(base + (dir / "bad") + " --memory-format nhwc");
  EXPECT_EQ(b.code, 2) << b.output;
  EXPECT_NE(b.output.find("'memory_format' is 'nhwc'; known: contiguous, channels_last"),
            std::string::npos)
      << b.output;
}

TEST(Cli, SigintStopsWithACheckpointAndExit130) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  pid_t pid = cli_test::start(
      "train --model lenet --batch-size 32 --iterations 100000 --log-every 10 --checkpoint-every "
      "-1 "
      "--lr fixed:value=0.01 --momentum 0.9 --threads 2 --out " +
          (dir / "run"),
      dir / "log");
  ASSERT_TRUE(cli_test::wait_for_path(dir / "run/metrics.csv", 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGINT);
  EXPECT_EQ(cli_test::wait_for(pid), 130);
  std::ifstream log(dir / "log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("interrupted at iteration"), std::string::npos) << text;
  EXPECT_FALSE(latest_checkpoint(dir / "run").empty()) << text;
}

TEST(Cli, DivergenceStopsWithExit3) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  cli_test::Result r =
      run("train --model lenet --batch-size 32 --iterations 200 --lr fixed:value=50 "
          "--momentum 0.9 --threads 2 --out " +
          (dir / "run"));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("diverged"), std::string::npos) << r.output;
}

TEST(Cli, RangeTestWritesCsvJsonAndASuggestion) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  cli_test::Result r =
      run("range-test --model lenet --init default --batch-size 64 --iterations 60 --eval-every 10 "
          "--eval-batches 4 --max-lr 0.3 --threads 2 --no-plot --out " +
          (dir / "rt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "rt/range_test.csv"));
  EXPECT_TRUE(fs::exists(dir / "rt/range_test.json"));
  EXPECT_FALSE(fs::exists(dir / "rt/weights.safetensors"));  // nothing trained is left behind
  EXPECT_NE(r.output.find("suggested max LR"), std::string::npos) << r.output;
  r =
      run("range-test --model lenet --mode exp --batch-size 64 --iterations 60 --threads 2 "
          "--no-plot --out " +
          (dir / "rt2"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("smoothed loss"), std::string::npos) << r.output;
}

TEST(Cli, ScheduleAndBench) {
  cli_test::Result r =
      run("schedule --lr onecycle-smith:base=0.08,max=0.8,ss=4003 --iterations 9277 --every 4200");
  ASSERT_EQ(r.code, 0) << r.output;
  size_t at = r.output.find("\n4200,");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(at + 6)), 0.760630, 5e-7)
      << r.output;  // Smith's logged value
  r = run("bench --model lenet --batch-size 32 --iterations 2 --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("img/s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\ncpu isa: "), std::string::npos) << r.output;
}

// MINIDL_CPU_ISA (core/cpu_isa.h) for the child processes of one test.
struct CpuIsaEnv {
  explicit CpuIsaEnv(const char* value) { ::setenv("MINIDL_CPU_ISA", value, 1); }
  ~CpuIsaEnv() { ::unsetenv("MINIDL_CPU_ISA"); }
};

TEST(Cli, ForcedCpuIsaIsPrintedAndABadOneIsBadUse) {
  {
    CpuIsaEnv env("baseline");
    cli_test::Result r = run("bench --model lenet --batch-size 8 --iterations 2 --threads 1");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("cpu isa: baseline (forced by MINIDL_CPU_ISA; of baseline"),
              std::string::npos)
        << r.output;
  }
  CpuIsaEnv env("avx9");
  cli_test::Result r = run("schedule --lr 0.1 --iterations 3");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("MINIDL_CPU_ISA=avx9 is not an instruction set"), std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

}  // namespace
}  // namespace minidl
