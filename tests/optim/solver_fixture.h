// The Solver tests' experiment: a small MLP with dropout on synthetic 8x8 images, its loaders,
// optimiser, schedules and Solver, built in one line, and an observer that keeps every record.
// Shared by test_solver.cpp and test_sync_every.cpp.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/synthetic.h"
#include "layers/layers.h"
#include "optim/checkpoint.h"
#include "optim/solver.h"
#include "tests/testing.h"

namespace minidl {
namespace solver_test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("minidl_solver_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

// A small MLP with dropout on 8x8 synthetic images: every piece of state a run has (weights,
// momentum, a dropout stream, the loader's shuffle) in a second of training.
inline std::shared_ptr<Module> small_net(uint64_t init_seed) {
  manual_seed(init_seed);
  auto net = sequential({std::make_shared<Flatten>(), std::make_shared<Linear>(64, 32),
                         std::make_shared<ReLU>(), std::make_shared<Dropout>(0.3),
                         std::make_shared<Linear>(32, 4)});
  return net;
}

struct Experiment {
  std::shared_ptr<const Dataset> train_set =
      materialize(SyntheticDataset(96, {1, 8, 8}, 4, 11, "synthetic/train"));
  std::shared_ptr<const Dataset> test_set =
      materialize(SyntheticDataset(32, {1, 8, 8}, 4, 12, "synthetic/test"));
  std::shared_ptr<Module> net;
  SoftmaxCrossEntropy loss{0.1};
  std::unique_ptr<Sgd> opt;
  std::unique_ptr<Schedule> lr =
      parse_schedule("onecycle-smith:base=0.01,max=0.1,ss=8", ScheduleRole::lr);
  std::unique_ptr<Schedule> mom = parse_schedule("0.9", ScheduleRole::momentum);
  std::unique_ptr<Loader> train, test;
  std::unique_ptr<Solver> solver;

  // `device`: the loaders' and the network's; `make_net` (seeded by init_seed) replaces small_net.
  Experiment(uint64_t init_seed, SolverOptions o,
             std::shared_ptr<const Dataset> train_override = nullptr,
             Device device = Device::cpu(),
             const std::function<std::shared_ptr<Module>()>& make_net = nullptr) {
    if (train_override) train_set = train_override;
    LoaderOptions lo;
    lo.batch_size = 16;  // 6 batches per epoch
    lo.seed = 3;
    lo.workers = 0;
    lo.device = device;
    train = std::make_unique<Loader>(train_set, Transform().normalize({0.5f}, {0.25f}), lo);
    lo.shuffle = false;
    test = std::make_unique<Loader>(test_set, Transform().normalize({0.5f}, {0.25f}), lo);
    if (make_net) {
      manual_seed(init_seed);
      net = make_net();
    } else {
      net = small_net(init_seed);
    }
    if (device.is_cuda()) net->to(device);
    opt = std::make_unique<Sgd>(*net, SgdOptions{SgdForm::caffe, true, 1e-3});
    solver = std::make_unique<Solver>(*net, loss, *opt, *lr, *mom, *train, test.get(), o);
  }
};

inline SolverOptions options(const std::string& run_dir) {
  SolverOptions o;
  o.max_iter = 20;
  o.eval_every = 4;
  o.checkpoint_every = 5;
  o.keep_checkpoints = 0;
  o.run_dir = run_dir;
  return o;
}

inline void expect_same_tensors(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(testing::all_close(b.at(name).to(DType::f64), t.to(DType::f64), 0, 0)) << name;
  }
}

// Keeps every record it is given.
struct Recorder : TrainObserver {
  std::vector<IterationRecord> records;
  std::vector<bool> evaluated;
  int ends = 0;
  SolverStatus status = SolverStatus::finished;
  void on_iteration(const IterationRecord& r) override {
    records.push_back(r);
    evaluated.push_back(r.eval != nullptr);
  }
  void on_end(SolverStatus s, const std::string&) override {
    ++ends;
    status = s;
  }
};

}  // namespace solver_test
}  // namespace minidl
