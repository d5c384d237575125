// The NCCL backend on one GPU (world size 1: no launcher variables): every operation runs and
// leaves its data as it is, on device tensors, ordered with the caller's stream; the reducer over
// a model's arena moved to the GPU. Skipped without a GPU or in builds without NCCL. The
// multi-rank checks are the MPI tests' (tests/mpi), over the same interface.
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "dist/grad_reducer.h"
#include "layers/layers.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

TEST(NcclCommunicator, OneRankOnOneGpu) {
  MINIDL_SKIP_WITHOUT_GPU();
  if (!MINIDL_WITH_NCCL) GTEST_SKIP() << "built without NCCL";
  auto comm = make_communicator("nccl");
  EXPECT_STREQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(comm->device(), Device::cuda(0));
  comm->set_timeout(60);
  Tensor host = random_tensor({1000}, 3);
  for (DType d : {DType::f32, DType::bf16, DType::f64}) {
    Tensor t = host.to(d).to(Device::cuda(0));
    comm->all_reduce(t, ReduceOp::sum);
    comm->all_reduce(t, ReduceOp::average);
    auto w = comm->all_reduce_async(t, ReduceOp::average);
    w->wait();
    comm->wait_all();  // the host sees every operation complete, well within the timeout
    EXPECT_TRUE(testing::all_close(t, host.to(d), 0, 0)) << dtype_name(d);
  }
  Tensor ids = Tensor::from_vector<int64_t>({4, 5, 6}, {3}).to(Device::cuda(0));
  comm->broadcast(ids, 0);
  EXPECT_EQ(ids.to(Device::cpu()).to_vector<int64_t>(), (std::vector<int64_t>{4, 5, 6}));
  comm->barrier();
  EXPECT_EQ(comm->all_gather(std::vector<int64_t>{9, -1}), (std::vector<int64_t>{9, -1}));
  EXPECT_EQ(comm->all_gather(std::vector<double>{2.5}), (std::vector<double>{2.5}));
}

TEST(NcclCommunicator, ReducerOverAGpuArena) {
  MINIDL_SKIP_WITHOUT_GPU();
  if (!MINIDL_WITH_NCCL) GTEST_SKIP() << "built without NCCL";
  auto comm = make_communicator("nccl");
  auto net = sequential({std::make_shared<Linear>(64, 32), std::make_shared<ReLU>(),
                         std::make_shared<Linear>(32, 10)});
  auto arena = net->arena();
  for (size_t i = 0; i < arena->parameters().size(); ++i) {
    Parameter& p = *arena->parameters()[i];
    p.grad.copy_(random_tensor(p.grad.shape(), 10 + i));
  }
  std::vector<float> before = arena->groups()[0].grads.to_vector<float>();
  arena->to(Device::cuda(0));
  GradReducer reducer(*comm, arena, 4096);
  reducer.mark_all_ready();
  reducer.finish();
  EXPECT_EQ(arena->groups()[0].grads.to(Device::cpu()).to_vector<float>(), before);
}

}  // namespace
}  // namespace minidl
