// The training step as a CUDA graph (optim/step_graph.h), on a GPU; skipped without one.
//  - StepGraph alone: warm-up steps run eagerly, the next is captured and every later one replayed,
//    each replay reading the batch copied into its static inputs; a batch of another shape runs
//    eagerly; a step that waits for the host cannot be captured and says so.
//  - The Solver with cuda_graph against the same run without it, in deterministic mode: the same
//    records, weights, optimiser state and batch norm buffers (num_batches_tracked included), bit
//    for bit, over 14 iterations of 7-batch epochs whose last batch is partial (eager), with the
//    step log read every 4 iterations.
#include <gtest/gtest.h>

#include "core/copy.h"
#include "kernels/conv.h"
#include "kernels/counter.h"
#include "kernels/elementwise.h"
#include "optim/step_graph.h"
#include "tests/optim/solver_fixture.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using namespace solver_test;

const Device kGpu = Device::cuda(0);

TEST(CudaStepGraph, WarmsUpCapturesOnceAndReplays) {
  MINIDL_SKIP_WITHOUT_GPU();
  StepGraph graph(kGpu, /*warmup_steps=*/2);
  Tensor count = Tensor::zeros({}, DType::i64, kGpu);
  Tensor sum = Tensor::zeros({4}, DType::f32, kGpu);
  Tensor labels = Tensor::zeros({4}, DType::i64, kGpu);
  int befores = 0, bodies = 0;
  auto body = [&](const Tensor& images, const Tensor&) {
    ++bodies;  // host code: runs at warm-up, at the capture, and never in a replay
    count_up(count);
    axpy(1.0, images, sum);
  };
  for (int k = 1; k <= 6; ++k)
    graph.run(
        Tensor::full({4}, k, DType::f32, kGpu), labels, [&] { ++befores; }, body);
  EXPECT_TRUE(graph.captured());
  EXPECT_EQ(graph.eager_steps(), 2);
  EXPECT_EQ(graph.replays(), 4);
  EXPECT_EQ(befores, 6);
  EXPECT_EQ(bodies, 3) << "two warm-up steps and the capture";
  EXPECT_EQ(count.item<int64_t>(), 6);
  EXPECT_EQ(sum.to(Device::cpu()).to_vector<float>(), std::vector<float>(4, 21.f));
  // Another shape: eager, and the graph stays as it was.
  graph.run(
      Tensor::full({2}, 100, DType::f32, kGpu), labels.narrow(0, 0, 2), [] {},
      [&](const Tensor& images, const Tensor&) {
        count_up(count);
        axpy(1.0, images, sum.narrow(0, 0, 2));
      });
  graph.run(
      Tensor::full({4}, 1, DType::f32, kGpu), labels, [] {}, body);
  EXPECT_EQ(graph.eager_steps(), 3);
  EXPECT_EQ(graph.replays(), 5);
  EXPECT_EQ(count.item<int64_t>(), 8);
  EXPECT_EQ(sum.to(Device::cpu()).to_vector<float>(), (std::vector<float>{122, 122, 22, 22}));
}

TEST(CudaStepGraph, AStepThatWaitsForTheHostIsNotCaptured) {
  MINIDL_SKIP_WITHOUT_GPU();
  StepGraph graph(kGpu, 1);
  Tensor x = Tensor::zeros({4}, DType::f32, kGpu), labels = Tensor::zeros({4}, DType::i64, kGpu);
  auto reads = [](const Tensor& images, const Tensor&) { (void)images.to(Device::cpu()); };
  graph.run(
      x, labels, [] {}, reads);  // warm-up: eager, fine
  EXPECT_MINIDL_ERROR(graph.run(
                          x, labels, [] {}, reads),
                      "cuda_graph: capturing", "waits for the host");
}

// The fixture's experiment on the GPU with a convolution, batch norm and dropout (whose stream the
// replays must advance as the eager steps do), 100 images so that each epoch's seventh batch holds
// 4, 14 iterations read every 4.
struct GpuRun {
  Recorder rec;
  std::unique_ptr<Experiment> e;
  explicit GpuRun(bool graph, bool f16 = false) {
    SolverOptions o;
    o.dynamic_loss_scale = f16;
    o.initial_loss_scale = 1 << 24;  // overflows f16 at first: steps skipped on the device
    o.loss_scale_growth_interval = 3;
    o.max_iter = 14;
    o.eval_every = 7;
    o.checkpoint_every = -1;
    o.sync_every = 4;
    o.cuda_graph = graph;
    e = std::make_unique<Experiment>(
        1, o, materialize(SyntheticDataset(100, {1, 8, 8}, 4, 11, "synthetic/train")), kGpu, [=] {
          auto net =
              sequential({std::make_shared<Conv2d>(Conv2dOptions(1, 8, 3).padding(1).bias(false)),
                          std::make_shared<BatchNorm2d>(8), std::make_shared<ReLU>(),
                          std::make_shared<Dropout>(0.25), std::make_shared<Flatten>(),
                          std::make_shared<Linear>(8 * 8 * 8, 4)});
          if (f16) net->set_compute_precision(DType::f16);
          return net;
        });
    e->solver->add_observer(rec);
  }
};

TEST(CudaStepGraph, SolverReplaysEqualEagerStepsBitForBit) {
  MINIDL_SKIP_WITHOUT_GPU();
  set_conv_deterministic(true);
  GpuRun eager(false), graph(true);
  ASSERT_EQ(eager.e->solver->run(), SolverStatus::finished) << eager.e->solver->message();
  ASSERT_EQ(graph.e->solver->run(), SolverStatus::finished) << graph.e->solver->message();
  set_conv_deterministic(false);
  ASSERT_EQ(graph.rec.records.size(), 14u);
  for (size_t i = 0; i < 14; ++i) {
    SCOPED_TRACE(::testing::Message() << "iteration " << i + 1);
    EXPECT_EQ(graph.rec.records[i].loss, eager.rec.records[i].loss);
    EXPECT_EQ(graph.rec.records[i].top1, eager.rec.records[i].top1);
    EXPECT_EQ(graph.rec.records[i].step_applied, eager.rec.records[i].step_applied);
  }
  expect_same_tensors(graph.e->net->state_dict(), eager.e->net->state_dict());
  expect_same_tensors(graph.e->opt->state_dict(), eager.e->opt->state_dict());
  EXPECT_EQ(graph.e->net->state_dict().at("1.num_batches_tracked").item<int64_t>(), 14);
  EXPECT_NE(graph.e->net->state_dict().at("3.rng_state").to_vector<int64_t>()[1], 0)
      << "the dropout stream advanced";
  EXPECT_EQ(graph.e->solver->last_eval().loss, eager.e->solver->last_eval().loss);
}

// f16 with its dynamic loss scale under the graph: the scale is halved on the skipped steps and
// grown after 3 applied ones on the device, in the replays as in the eager steps.
TEST(CudaStepGraph, F16LossScaledReplaysEqualEagerSteps) {
  MINIDL_SKIP_WITHOUT_GPU();
  set_conv_deterministic(true);
  GpuRun eager(false, true), graph(true, true);
  ASSERT_EQ(eager.e->solver->run(), SolverStatus::finished) << eager.e->solver->message();
  ASSERT_EQ(graph.e->solver->run(), SolverStatus::finished) << graph.e->solver->message();
  set_conv_deterministic(false);
  ASSERT_EQ(graph.rec.records.size(), 14u);
  for (size_t i = 0; i < 14; ++i) {
    EXPECT_EQ(graph.rec.records[i].loss, eager.rec.records[i].loss) << i;
    EXPECT_EQ(graph.rec.records[i].step_applied, eager.rec.records[i].step_applied) << i;
  }
  EXPECT_GT(eager.e->solver->state().skipped_steps, 0) << "2^24 must overflow f16 at first";
  EXPECT_EQ(graph.e->solver->state().loss_scale.scale, eager.e->solver->state().loss_scale.scale);
  expect_same_tensors(graph.e->net->state_dict(), eager.e->net->state_dict());
}

}  // namespace
}  // namespace minidl
