// TensorBoard event files read back by TensorBoard itself (the PyPI package tools/setup.sh pins,
// through /usr/bin/python3): a short training run's events equal its metrics.csv, value for value,
// and so do a range test's and its range_test.csv (tensorboard_reference.py says how).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "optim/event_file.h"
#include "tests/reference/reference_util.h"

namespace minidl {
namespace {

using reference::TempDir;

#define SKIP_WITHOUT_TENSORBOARD()                                                  \
  do {                                                                              \
    if (!tensorboard_available()) GTEST_SKIP() << "built without protobuf";         \
    MINIDL_SKIP_WITHOUT_TORCH("tensorboard.backend.event_processing.event_accumulator"); \
  } while (0)

int run(const std::string& cmd) {
  return std::system((cmd + " > /dev/null 2>&1").c_str());
}

// minidl_train VERB on LeNet and 256 synthetic images, in batches of 32, with --tensorboard.
int run_lenet(const std::string& verb, const std::string& flags, const std::string& out) {
  return run(std::string(MINIDL_TRAIN_BIN) + " " + verb +
             " --model lenet --dataset synthetic --synthetic-images 256 --batch-size 32"
             " --threads 2 --tensorboard " + flags + " --out " + out);
}

const char* kTrainFlags = "--iterations 24 --log-every 4 --eval-every 8 --lr 0.001";

TEST(TensorBoardReference, TrainingEventsEqualMetricsCsv) {
  SKIP_WITHOUT_TENSORBOARD();
  TempDir tmp("tensorboard_train");
  std::string out = tmp.file("run");
  ASSERT_EQ(run_lenet("train", kTrainFlags, out), 0);
  EXPECT_TRUE(reference::run_script("tensorboard_reference.py", "train " + out));
}

// A run resumed from an earlier checkpoint logs iterations 17-24 again, in a new event file. Its
// SessionLog START must make TensorBoard drop the first file's events past 16, so that every step
// has one value, metrics.csv's.
TEST(TensorBoardReference, ResumedRunsEventsEqualMetricsCsv) {
  SKIP_WITHOUT_TENSORBOARD();
  TempDir tmp("tensorboard_resume");
  std::string out = tmp.file("run");
  ASSERT_EQ(run_lenet("train", std::string(kTrainFlags) + " --checkpoint-every 8 --keep-checkpoints 0",
                      out),
            0);
  std::filesystem::remove_all(out + "/checkpoints/iter_000000024");  // resume from 16
  ASSERT_EQ(run(std::string(MINIDL_TRAIN_BIN) + " train --resume " + out), 0);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(out + "/tensorboard"))
    files += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(files, 2);
  EXPECT_TRUE(reference::run_script("tensorboard_reference.py", "train " + out));
}

TEST(TensorBoardReference, RangeTestEventsEqualItsCsv) {
  SKIP_WITHOUT_TENSORBOARD();
  TempDir tmp("tensorboard_range");
  std::string out = tmp.file("rt");
  ASSERT_EQ(run_lenet("range-test",
                      "--iterations 20 --eval-every 5 --eval-batches 2 --max-lr 0.5 --repeats 2 "
                      "--no-plot",
                      out),
            0);
  EXPECT_TRUE(reference::run_script("tensorboard_reference.py", "range-test " + out));
}

}  // namespace
}  // namespace minidl
