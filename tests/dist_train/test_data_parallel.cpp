// Data-parallel training end to end (issue 14's must-show, docs/distributed.md): minidl_train runs
// under `mpirun -np 2` on the CPU (the MPI backend), against one-process runs of the global batch.
//
//  - lenet, 2 ranks x batch 64 = 1 rank x batch 128: the same weights after 50 iterations within
//    1e-5 (relative to each tensor's largest value). Not bit for bit: the average of two 64-image
//    means rounds differently from one 128-image mean.
//  - resnet20 with --sync-bn: the same, BN statistics taken over the global batch on both sides.
//  - a rank killed with SIGKILL: the job ends non-zero with a message naming it, and the run resumes
//    from its last checkpoint to the same final weights, bit for bit, as a run never interrupted.
//  - SIGINT to one rank: every rank stops at the same iteration, one checkpoint, exit 130.
// Each rank runs one compute thread: two ranks share this machine's cores.
#include <gtest/gtest.h>

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/safetensors.h"
#include "tests/integration/cli_util.h"

namespace minidl {
namespace {

using cli_test::Result;
using cli_test::TempDir;

// `mpirun -np N minidl_train ARGS`, through the shell, output captured.
Result mpirun(int ranks, const std::string& args) {
  std::string cmd = std::string(MINIDL_MPIEXEC) + " " + MINIDL_MPIEXEC_FLAGS + " -np " +
                    std::to_string(ranks) + " '" + cli_test::train_bin() + "' " + args + " 2>&1";
  Result r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The same, started in the background (output to `log`); returns mpirun's pid.
pid_t start_mpirun(int ranks, const std::string& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string cmd = std::string("exec ") + MINIDL_MPIEXEC + " " + MINIDL_MPIEXEC_FLAGS + " -np " +
                      std::to_string(ranks) + " '" + cli_test::train_bin() + "' " + args + " >" +
                      log + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The pid of the rank `rank` process whose command line mentions `marker` (its run directory), or
// -1: found by its environment (OMPI_COMM_WORLD_RANK), as a user would with ps and /proc.
pid_t find_rank(int rank, const std::string& marker) {
  DIR* proc = ::opendir("/proc");
  if (!proc) return -1;
  pid_t found = -1;
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  while (dirent* e = ::readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    const std::string dir = std::string("/proc/") + e->d_name;
    std::ifstream cmdline(dir + "/cmdline"), environ(dir + "/environ");
    std::stringstream c, v;
    c << cmdline.rdbuf();
    v << environ.rdbuf();
    std::string cmd = c.str(), env = v.str();
    std::replace(env.begin(), env.end(), '\0', '\n');
    if (cmd.find("minidl_train") == std::string::npos || cmd.find(marker) == std::string::npos)
      continue;
    if (("\n" + env + "\n").find("\n" + want + "\n") != std::string::npos) {
      found = std::atoi(e->d_name);
      break;
    }
  }
  ::closedir(proc);
  return found;
}

std::string final_weights(const std::string& run, int64_t iteration) {
  char name[32];
  std::snprintf(name, sizeof name, "iter_%09lld", static_cast<long long>(iteration));
  return run + "/checkpoints/" + name + "/model.safetensors";
}

// Largest |a - b| over the largest |a|, per tensor; the worst tensor's ratio (and its name).
double worst_relative_difference(const std::string& a_path, const std::string& b_path,
                                 std::string* worst_name) {
  TensorMap a = load_safetensors(a_path), b = load_safetensors(b_path);
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& [name, ta] : a) {
    if (!b.count(name) || ta.dtype() == DType::i64) continue;  // counters: compared elsewhere
    std::vector<double> x = ta.to(DType::f64).to_vector<double>(),
                        y = b.at(name).to(DType::f64).to_vector<double>();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      diff = std::max(diff, std::abs(x[i] - y[i]));
      scale = std::max(scale, std::abs(x[i]));
    }
    double rel = scale > 0 ? diff / scale : diff;
    if (rel > worst) {
      worst = rel;
      if (worst_name) *worst_name = name;
    }
  }
  return worst;
}

const char* kCommon =
    " --dataset synthetic --iterations 50 --threads 1 --workers 1 --eval-every 25"
    " --checkpoint-every -1 --lr 0.05 --momentum 0.9 --weight-decay 5e-4";

TEST(DataParallel, LenetTwoRanksOfHalfTheBatchEqualOneRankOfTheWholeBatch) {
  TempDir dir;
  Result one = cli_test::run("train --model lenet --batch-size 128 --out " + dir / "one" + kCommon);
  ASSERT_EQ(one.code, 0) << one.output;
  Result two = mpirun(2, "train --model lenet --batch-size 64 --out " + dir / "two" + kCommon);
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_NE(two.output.find("batch 64 per rank x 2 ranks = 128 (mpi)"), std::string::npos)
      << two.output;
  std::string name;
  double rel = worst_relative_difference(final_weights(dir / "one", 50),
                                         final_weights(dir / "two", 50), &name);
  EXPECT_LE(rel, 1e-5) << "worst tensor " << name;
  std::printf("lenet 2x64 vs 1x128 after 50 iterations: worst relative difference %.3g (%s)\n", rel,
              name.c_str());
  // rank 0 alone writes: one header line in the log, one metrics file
  std::ifstream log(dir / "two/log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  size_t first = text.find("minidl_train train:");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find("minidl_train train:", first + 1), std::string::npos) << text;
}

TEST(DataParallel, Resnet20SyncBnTwoRanksEqualOneRankOfTheWholeBatch) {
  TempDir dir;
  const std::string args = " --model resnet20 --sync-bn" + std::string(kCommon);
  Result one = cli_test::run("train --batch-size 128 --out " + dir / "one" + args);
  ASSERT_EQ(one.code, 0) << one.output;
  Result two = mpirun(2, "train --batch-size 64 --out " + dir / "two" + args);
  ASSERT_EQ(two.code, 0) << two.output;
  std::string name;
  double rel = worst_relative_difference(final_weights(dir / "one", 50),
                                         final_weights(dir / "two", 50), &name);
  EXPECT_LE(rel, 1e-5) << "worst tensor " << name;
  std::printf("resnet20 --sync-bn 2x64 vs 1x128 after 50 iterations: worst relative difference "
              "%.3g (%s)\n",
              rel, name.c_str());
}

const char* kLong =
    " --model lenet --dataset synthetic --iterations 60 --batch-size 64 --threads 1 --workers 1"
    " --checkpoint-every 10 --keep-checkpoints 0 --lr 0.05 --momentum 0.9";

TEST(DataParallel, AKilledRankEndsTheJobAndTheRunResumesBitIdentically) {
  TempDir dir;
  Result whole = mpirun(2, "train --out " + dir / "whole" + kLong);
  ASSERT_EQ(whole.code, 0) << whole.output;

  const std::string run = dir / "killed";
  pid_t job = start_mpirun(2, "train --out " + run + kLong, dir / "killed.log");
  ASSERT_TRUE(cli_test::wait_for_path(run + "/checkpoints/iter_000000020", 120));
  pid_t rank1 = find_rank(1, run);
  ASSERT_GT(rank1, 0) << "rank 1's process";
  ::kill(rank1, SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  int code = cli_test::wait_for(job);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream log(dir / "killed.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(code, 0) << text;
  EXPECT_LT(seconds, 60) << "the job took " << seconds << " s to end after rank 1 died";
  EXPECT_NE(text.find("signal 9"), std::string::npos) << "mpirun names the dead rank:\n" << text;
  std::printf("after SIGKILL of rank 1: exit %d in %.1f s\n", code, seconds);
  if (cli_test::wait_for_path(run + "/checkpoints/iter_000000060", 0))
    GTEST_SKIP() << "the run finished before the kill";

  Result resumed = mpirun(2, "train --resume " + run);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  EXPECT_EQ(worst_relative_difference(final_weights(dir / "whole", 60), final_weights(run, 60),
                                      nullptr),
            0.0)
      << "bit-identical";
}

TEST(DataParallel, SigintOnOneRankStopsEveryRankWithOneCheckpoint) {
  TempDir dir;
  const std::string run = dir / "run";
  std::string args = std::string(kLong);
  args.replace(args.find("--iterations 60"), 15, "--iterations 100000");
  pid_t job = start_mpirun(2, "train --out " + run + args, dir / "run.log");
  ASSERT_TRUE(cli_test::wait_for_path(run + "/checkpoints/iter_000000010", 120));
  pid_t rank1 = find_rank(1, run);
  ASSERT_GT(rank1, 0);
  ::kill(rank1, SIGINT);
  int code = cli_test::wait_for(job);
  std::ifstream log(dir / "run.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(code, 130) << text;
  EXPECT_NE(text.find("interrupted at iteration"), std::string::npos) << text;
  // the interruption's checkpoint: every rank stopped at the iteration rank 0 saved
  size_t at = text.find("interrupted at iteration ");
  ASSERT_NE(at, std::string::npos);
  long long it = std::atoll(text.c_str() + at + 25);
  EXPECT_TRUE(cli_test::wait_for_path(final_weights(run, it), 0)) << text;
}

}  // namespace
}  // namespace minidl
