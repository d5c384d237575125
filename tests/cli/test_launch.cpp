// minidl_train's own launcher (tools/train/launch.h): the rank variables each rank gets, the exit
// code it returns, a failing rank stopping the others, and SIGINT passed on to every rank. The
// ranks here are shell scripts: the supervision is the same whatever the ranks run (the CUDA ranks
// it exists for need GPUs).
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tools/train/launch.h"

namespace minidl::cli {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("minidl_launch_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::vector<std::string> sh(const std::string& script) {
  return {"/bin/sh", "-c", script};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(Launch, WithoutNprocDropsTheFlagInBothForms) {
  EXPECT_EQ(without_nproc({"minidl_train", "train", "--nproc", "4", "--model", "lenet"}),
            (std::vector<std::string>{"minidl_train", "train", "--model", "lenet"}));
  EXPECT_EQ(without_nproc({"minidl_train", "train", "--nproc=4", "--device", "cuda"}),
            (std::vector<std::string>{"minidl_train", "train", "--device", "cuda"}));
}

TEST(Launch, EveryRankGetsItsVariablesAndTheRunSucceeds) {
  TempDir dir;
  const std::string out = dir.path.string();
  int code =
      spawn_ranks(sh("echo $MINIDL_RANK $MINIDL_WORLD_SIZE $MINIDL_LOCAL_RANK $MINIDL_RUN_ID > " +
                     out + "/rank$MINIDL_RANK"),
                  3);
  EXPECT_EQ(code, 0);
  std::string run_id;
  for (int r = 0; r < 3; ++r) {
    std::ifstream f(out + "/rank" + std::to_string(r));
    int rank = -1, world = -1, local = -1;
    std::string id;
    f >> rank >> world >> local >> id;
    EXPECT_EQ(rank, r);
    EXPECT_EQ(world, 3);
    EXPECT_EQ(local, r);
    EXPECT_FALSE(id.empty());
    if (r == 0) run_id = id;
    EXPECT_EQ(id, run_id) << "one run id for all ranks";
  }
}

TEST(Launch, AFailingRankStopsTheOthersAndItsCodeIsTheRuns) {
  auto t0 = std::chrono::steady_clock::now();
  // rank 1 fails at once; the others would run for a minute
  int code = spawn_ranks(
      sh("if [ $MINIDL_RANK = 1 ]; then exit 3; fi; exec sleep 60 >/dev/null 2>&1"), 3, 5);
  EXPECT_EQ(code, 3);
  EXPECT_LT(seconds_since(t0), 20) << "the other ranks were not stopped";
}

TEST(Launch, ARankThatIgnoresSigtermIsKilledAfterTheGrace) {
  auto t0 = std::chrono::steady_clock::now();
  int code = spawn_ranks(
      // (the sleeps' output goes nowhere: an orphaned sleep holding ctest's pipe would keep the
      // test waiting for it)
      sh("if [ $MINIDL_RANK = 1 ]; then kill -9 $$; fi; trap '' TERM; exec >/dev/null 2>&1; "
         "sleep 60 & wait; sleep 60"),
      2, 1);
  EXPECT_EQ(code, 128 + SIGKILL);  // rank 1's: the first to fail
  EXPECT_LT(seconds_since(t0), 20);
}

TEST(Launch, SigintReachesEveryRank) {
  TempDir dir;
  const std::string out = dir.path.string();
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(::getpid(), SIGINT);
  });
  auto t0 = std::chrono::steady_clock::now();
  int code = spawn_ranks(sh("trap 'touch " + out +
                            "/got$MINIDL_RANK; exit 130' INT; "
                            "sleep 30 >/dev/null 2>&1 & wait"),
                         2);
  interrupter.join();
  EXPECT_EQ(code, 130);
  EXPECT_LT(seconds_since(t0), 20);
  EXPECT_TRUE(fs::exists(out + "/got0"));
  EXPECT_TRUE(fs::exists(out + "/got1"));
}

}  // namespace
}  // namespace minidl::cli
