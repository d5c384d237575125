// The fused SGD step on CUDA against its CPU twin (same input, same bits: both round every f32
// operation separately), the scalar path for tensors that are not 16-byte aligned, the non-finite
// skip on the GPU, the launch count (one step over 161 tensors is captured into a CUDA graph that
// must hold exactly two kernels: check + update), and the parameter arena on the GPU. Skipped
// without a GPU.
#include <gtest/gtest.h>

#include <limits>

#include "core/context.h"
#include "optim/sgd.h"
#include "tests/optim/sgd_test_util.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {
namespace {

using testing::bytes_of;
using testing::random_tensor;

const Device kGpu = Device::cuda(0);

// Shapes with chunk-crossing sizes and odd tails, in f32, bf16 and f16 (the arena aligns every
// start; MisalignedTensorsTakeTheScalarPath covers the others).
std::vector<Parameter> twin_params(Device device) {
  const std::vector<Shape> shapes = {{8193}, {3, 5}, {1}, {20001}, {64, 3, 3, 3}, {1000}};
  const DType dtypes[] = {DType::f32, DType::bf16, DType::f16, DType::f32, DType::bf16, DType::f32};
  std::vector<Parameter> ps;
  for (size_t i = 0; i < shapes.size(); ++i)
    ps.push_back(
        testing::make_param("p" + std::to_string(i), shapes[i], 20 + i, dtypes[i], device));
  ps[1].lr_mult = 2.f;
  ps[1].decay_mult = 0.f;
  ps[2].is_bias_or_norm = true;
  return ps;
}

void set_grads(std::vector<Parameter>& ps, uint32_t step) {
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].grad.copy_(random_tensor(ps[i].value.shape(), 7000 + 31 * step + i, -3.f, 3.f));
}

TEST(CudaSgdTwin, EveryFormGivesTheCpuBits) {
  MINIDL_SKIP_WITHOUT_GPU();
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch})
    for (bool nesterov : {false, true})
      for (bool decoupled : {false, true}) {
        SCOPED_TRACE(std::string(sgd_form_name(form)) + (nesterov ? " nesterov" : "") +
                     (decoupled ? " decoupled" : ""));
        std::vector<Parameter> cpu = twin_params(Device::cpu()), gpu = twin_params(kGpu);
        SgdOptions opt{form, nesterov, 2e-3, decoupled, true};
        Sgd s_cpu(testing::packed(cpu), opt), s_gpu(testing::packed(gpu), opt);
        const double lrs[] = {0.1, 0.4, 0.02}, mus[] = {0.9, 0.85, 0.95};
        for (uint32_t step = 0; step < 3; ++step) {
          set_grads(cpu, step);
          set_grads(gpu, step);
          ASSERT_TRUE(s_cpu.step(lrs[step], mus[step], 0.5));
          ASSERT_TRUE(s_gpu.step(lrs[step], mus[step], 0.5));
        }
        for (size_t i = 0; i < cpu.size(); ++i)
          EXPECT_EQ(bytes_of(gpu[i].value), bytes_of(cpu[i].value)) << cpu[i].name;
        std::map<std::string, Tensor> sc = s_cpu.state_dict(), sg = s_gpu.state_dict();
        for (const auto& [name, t] : sc) EXPECT_EQ(bytes_of(sg.at(name)), bytes_of(t)) << name;
      }
}

// One f32 tensor whose value, gradient and momentum start one element into their storage (not
// 16-byte aligned), stepped through a plan built by hand on each device.
TEST(CudaSgdTwin, MisalignedTensorsTakeTheScalarPath) {
  MINIDL_SKIP_WITHOUT_GPU();
  auto run = [](Device device) {
    Tensor w = random_tensor({10001}, 1).to(device), g = random_tensor({10001}, 2).to(device);
    Tensor m = random_tensor({10001}, 3).to(device);
    SgdTensor t;
    t.value = w.narrow(0, 1, 10000).data_ptr();
    t.grad = g.narrow(0, 1, 10000).data<float>();
    t.momentum = m.narrow(0, 1, 10000).data<float>();
    t.numel = 10000;
    SgdPlan plan = build_sgd_plan({t}, device);
    SgdStepScalars s;
    s.lr = 0.1f, s.momentum = 0.9f, s.weight_decay = 1e-3f, s.nesterov = true;
    sgd_fused_step(plan, s);
    return std::make_pair(bytes_of(w), bytes_of(m));
  };
  EXPECT_EQ(run(kGpu), run(Device::cpu()));
}

TEST(CudaSgdTwin, NonFiniteGradientSkipsTheStepOnTheGpu) {
  MINIDL_SKIP_WITHOUT_GPU();
  std::vector<Parameter> ps = twin_params(kGpu);
  Sgd sgd(testing::packed(ps), {SgdForm::caffe, true, 1e-3});
  set_grads(ps, 0);
  ASSERT_TRUE(sgd.step(0.1, 0.9));
  set_grads(ps, 1);
  std::vector<float> g = ps[3].grad.to_vector<float>();
  g[20000] = std::numeric_limits<float>::quiet_NaN();
  ps[3].grad.copy_(Tensor::from_vector(g, {20001}));
  std::vector<std::vector<uint8_t>> before = testing::snapshot(ps, sgd);
  EXPECT_FALSE(sgd.step(0.1, 0.9));
  EXPECT_EQ(testing::snapshot(ps, sgd), before);
  EXPECT_EQ(sgd.steps(), 1);  // the skipped step is not counted
}

TEST(CudaSgdTwin, OneStepIsOneCheckAndOneUpdateLaunchForAllTensors) {
  MINIDL_SKIP_WITHOUT_GPU();
#if MINIDL_WITH_CUDA
  std::vector<Parameter> ps;  // 161 tensors, as many as torchvision's resnet50 has
  for (int i = 0; i < 161; ++i)
    ps.push_back(testing::make_param("t" + std::to_string(i), {1 + 97 * i}, i, DType::f32, kGpu));
  Sgd sgd(testing::packed(ps), {SgdForm::caffe, true, 1e-4});
  synchronize(kGpu);
  activate_device(kGpu);
  cudaStream_t stream = current_stream(kGpu).handle();
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  sgd_fused_step(sgd.plan(), sgd.scalars(0.1, 0.9));
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  size_t n = 0;
  ASSERT_EQ(cudaGraphGetNodes(graph, nullptr, &n), cudaSuccess);
  std::vector<cudaGraphNode_t> nodes(n);
  ASSERT_EQ(cudaGraphGetNodes(graph, nodes.data(), &n), cudaSuccess);
  int kernels = 0;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type;
    ASSERT_EQ(cudaGraphNodeGetType(node, &type), cudaSuccess);
    kernels += type == cudaGraphNodeTypeKernel;
  }
  cudaGraphDestroy(graph);
  EXPECT_EQ(kernels, 2) << "graph nodes: " << n;
  EXPECT_EQ(sgd.plan().tensors.size(), 161u);
#endif
}

// The live step (Sgd::launch_live_step) captured ONCE into a CUDA graph, then replayed for four
// steps after each step's write_live_scalars (a schedule's LR and momentum, the torch form's
// first step): the CPU twin's bits, step for step.
TEST(CudaSgdTwin, CapturedLiveStepReplaysEachStepsScalars) {
  MINIDL_SKIP_WITHOUT_GPU();
#if MINIDL_WITH_CUDA
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch}) {
    SCOPED_TRACE(sgd_form_name(form));
    std::vector<Parameter> cpu = twin_params(Device::cpu()), gpu = twin_params(kGpu);
    SgdOptions opt{form, true, 1e-3, false, true};
    Sgd s_cpu(testing::packed(cpu), opt), s_gpu(testing::packed(gpu), opt);
    synchronize(kGpu);
    activate_device(kGpu);
    cudaStream_t stream = current_stream(kGpu).handle();
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    s_gpu.launch_live_step();
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    const double lrs[] = {0.1, 0.4, 0.02, 0.2}, mus[] = {0.95, 0.85, 0.9, 0.8};
    for (uint32_t step = 0; step < 4; ++step) {
      set_grads(cpu, step);
      set_grads(gpu, step);
      ASSERT_TRUE(s_cpu.step(lrs[step], mus[step], 0.5));
      s_gpu.write_live_scalars(lrs[step], mus[step], 0.5);
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      s_gpu.record_outcome(s_gpu.skip_flag().item<int32_t>() == 0);
      for (size_t i = 0; i < cpu.size(); ++i)
        ASSERT_EQ(bytes_of(gpu[i].value), bytes_of(cpu[i].value)) << "step " << step << " " << i;
    }
    EXPECT_EQ(s_gpu.steps(), 4);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
#endif
}

TEST(CudaSgdTwin, ArenaMovesToTheGpuAsWholeBuffers) {
  MINIDL_SKIP_WITHOUT_GPU();
  std::vector<Parameter> ps = twin_params(Device::cpu());
  std::shared_ptr<ParameterArena> arena = testing::packed(ps);
  std::vector<std::vector<uint8_t>> before;
  for (const Parameter& p : ps) before.push_back(bytes_of(p.value));
  arena->to(kGpu);
  for (size_t i = 0; i < ps.size(); ++i) {
    const ArenaGroup& g = arena->groups()[arena->slots()[i].group];
    EXPECT_EQ(ps[i].value.device(), kGpu);
    EXPECT_EQ(ps[i].value.storage(), g.values.storage()) << ps[i].name;
    EXPECT_EQ(ps[i].grad.storage(), g.grads.storage()) << ps[i].name;
    EXPECT_EQ(bytes_of(ps[i].value), before[i]) << ps[i].name;
  }
  Parameter stray = testing::make_param("stray", {4}, 1);  // on the CPU
  std::vector<Parameter*> mixed = {&ps[0], &stray};
  EXPECT_MINIDL_ERROR(ParameterArena::pack(mixed), "'stray'", "cpu", "cuda:0");
}

}  // namespace
}  // namespace minidl
