// What a CUDA graph of the training step refuses, on the CPU: the model's obstacles (caffe-style
// and synchronised batch norm) by name, the Solver's (data parallel, a gradient hook) before any
// device is asked for, and a device that is not CUDA. Dropout and f16's dynamic loss scale are
// not refused: their state advances on the device. The captured step itself is tested on a GPU
// (tests/cuda/test_step_graph.cpp).
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "models/registry.h"
#include "optim/step_graph.h"
#include "tests/optim/solver_fixture.h"

namespace minidl {
namespace {

using namespace solver_test;

TEST(StepGraph, NamesWhatItCannotCapture) {
  EXPECT_EQ(step_graph_obstacle(*make_model("resnet20", ModelArgs{})), "");
  EXPECT_EQ(step_graph_obstacle(*make_model("densenet40", ModelArgs{})), "") << "dropout replays";

  auto caffe = sequential({std::make_shared<Conv2d>(Conv2dOptions(1, 4, 3)),
                           std::make_shared<BatchNorm2d>(4, BatchNormOptions::caffe())});
  const std::string c = step_graph_obstacle(*caffe);
  EXPECT_NE(c.find("BatchNorm2d '1'"), std::string::npos) << c;
  EXPECT_NE(c.find("caffe-style"), std::string::npos) << c;

  auto synced = std::make_shared<BatchNorm2d>(4);
  synced->set_sync([](const Tensor&) {});
  EXPECT_NE(step_graph_obstacle(*synced).find("synchronised"), std::string::npos);
}

TEST(StepGraph, SolverRefusesHostCodeInTheStepThenACpuDevice) {
  SolverOptions o = options("");
  o.cuda_graph = true;
  auto made = [&](SolverOptions opts) { Experiment e(1, opts); };
  SolverOptions hook = o;
  hook.gradient_hook = [](const std::vector<Parameter*>&) {};
  EXPECT_MINIDL_ERROR(made(hook), "cuda_graph", "gradient hook");
  SolverOptions f16 = o;  // its loss scale lives on the device: only the device is refused
  f16.dynamic_loss_scale = true;
  EXPECT_MINIDL_ERROR(made(f16), "cuda_graph", "CUDA");
  std::unique_ptr<Communicator> comm = make_local_communicator();
  SolverOptions dp = o;
  dp.comm = comm.get();
  EXPECT_MINIDL_ERROR(made(dp), "cuda_graph", "data parallel");
  // The fixture's network has dropout, which a graph takes; then the device is refused.
  EXPECT_MINIDL_ERROR(made(o), "cuda_graph", "CUDA");
  EXPECT_MINIDL_ERROR(StepGraph(Device::cpu()), "cuda_graph", "CUDA");
}

}  // namespace
}  // namespace minidl
