// The local backend (world size 1) and the factory by name: every operation leaves its data as it
// is, all_gather returns the caller's values, and bad tensors and names are errors.
#include <gtest/gtest.h>

#include <limits>

#include "core/error.h"
#include "dist/communicator.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

TEST(LocalCommunicator, IdentityOperations) {
  auto comm = make_communicator("local");
  EXPECT_STREQ(comm->backend(), "local");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(comm->local_rank(), 0);
  Tensor t = random_tensor({33}, 1);
  std::vector<float> before = t.to_vector<float>();
  comm->all_reduce(t, ReduceOp::sum);
  comm->all_reduce(t, ReduceOp::average);
  Tensor b = t.to(DType::bf16);
  comm->all_reduce(b, ReduceOp::average);
  comm->broadcast(t, 0);
  comm->barrier();
  EXPECT_EQ(t.to_vector<float>(), before);
  EXPECT_EQ(comm->all_gather(std::vector<int64_t>{7, -8}), (std::vector<int64_t>{7, -8}));
  EXPECT_EQ(comm->all_gather(std::vector<double>{0.5}), (std::vector<double>{0.5}));
  EXPECT_TRUE(comm->all_gather(std::vector<int64_t>{}).empty());
}

TEST(LocalCommunicator, RejectsBadTensorsAndRoots) {
  auto comm = make_local_communicator();
  Tensor m = random_tensor({4, 6}, 2);
  EXPECT_MINIDL_ERROR(comm->all_reduce(m.permute({1, 0}), ReduceOp::sum), "local all_reduce",
                      "contiguous");
  EXPECT_MINIDL_ERROR(comm->all_reduce(Tensor::zeros({3}, DType::i32), ReduceOp::sum),
                      "cannot reduce i32");
  EXPECT_MINIDL_ERROR(comm->broadcast(m, 1), "root 1");
  comm->broadcast(Tensor::zeros({3}, DType::i64), 0);  // any dtype broadcasts
}

TEST(Communicator, FactoryNamesAndMissingBackends) {
  EXPECT_MINIDL_ERROR(make_communicator("gloo"), "unknown communicator backend 'gloo'",
                      "local, mpi, nccl");
#if !MINIDL_WITH_MPI
  EXPECT_MINIDL_ERROR(make_communicator("mpi"), "built without");
#endif
#if !MINIDL_WITH_NCCL
  EXPECT_MINIDL_ERROR(make_communicator("nccl"), "built without");
#endif
}

// The timeout is seconds, finite and > 0; a rejected value leaves the previous one.
TEST(Communicator, TimeoutDefaultAndValidation) {
  auto comm = make_local_communicator();
  EXPECT_EQ(comm->timeout(), 1800.0);
  comm->set_timeout(2.5);
  EXPECT_EQ(comm->timeout(), 2.5);
  comm->set_timeout(1e-3);
  EXPECT_EQ(comm->timeout(), 1e-3);
  for (double bad :
       {0.0, -1.0, std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()})
    EXPECT_MINIDL_ERROR(comm->set_timeout(bad), "local communicator: the timeout",
                        "finite number of seconds > 0");
  EXPECT_EQ(comm->timeout(), 1e-3);
  comm->wait_all();  // the local backend has nothing in flight
}

// A CUDA build on a machine without a GPU: the nccl backend stops before any exchange, naming the
// missing device (tests/cuda/test_nccl_communicator.cpp runs it where there is one).
TEST(Communicator, NcclWithoutGpuSaysSo) {
  if (!MINIDL_WITH_NCCL) GTEST_SKIP() << "built without NCCL";
  if (testing::has_gpu()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_MINIDL_ERROR(make_communicator("nccl"), "cuda:0", "0 CUDA device");
}

}  // namespace
}  // namespace minidl
