// The MPI backend and the gradient reducer over real ranks: ctest runs this binary under
// `mpirun -np 2` (label mpi; tests/CMakeLists.txt). Each rank draws its inputs from a seed of its
// rank, and computes the expected results itself from both ranks' seeds, so the checks are exact
// comparisons, not tolerances: for two ranks MPI's f32 sum is a0 + a1, rounded once.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "core/half.h"
#include "dist/communicator.h"
#include "dist/grad_reducer.h"
#include "layers/layers.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_tensor;

Communicator& comm() {
  static std::unique_ptr<Communicator> c = make_communicator("mpi");
  return *c;
}

TEST(MpiCommunicator, TwoRanksOnOneMachine) {
  ASSERT_EQ(comm().world_size(), 2) << "run under mpirun -np 2";
  EXPECT_STREQ(comm().backend(), "mpi");
  EXPECT_EQ(comm().local_rank(), comm().rank());  // both ranks share this machine
  EXPECT_EQ(comm().device(), Device::cpu());
}

// Sizes: one element, an odd size, and 4 MB + 3 elements (OpenMPI picks another algorithm).
const int64_t kSizes[] = {1, 1001, (1 << 20) + 3};

TEST(MpiCommunicator, AllReduceF32) {
  for (int64_t n : kSizes) {
    Tensor a0 = random_tensor({n}, 100), a1 = random_tensor({n}, 101);
    std::vector<float> v0 = a0.to_vector<float>(), v1 = a1.to_vector<float>();
    Tensor sum = (comm().rank() == 0 ? a0 : a1).clone();
    Tensor avg = sum.clone();
    comm().all_reduce(sum, ReduceOp::sum);
    comm().all_reduce(avg, ReduceOp::average);
    std::vector<float> s = sum.to_vector<float>(), a = avg.to_vector<float>();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(s[i], v0[i] + v1[i]) << "n " << n << " at " << i;
      ASSERT_EQ(a[i], (v0[i] + v1[i]) / 2.f) << "n " << n << " at " << i;
    }
  }
}

TEST(MpiCommunicator, AllReduceF64) {
  Tensor a0 = random_tensor({777}, 7).to(DType::f64), a1 = random_tensor({777}, 8).to(DType::f64);
  Tensor t = (comm().rank() == 0 ? a0 : a1).clone();
  comm().all_reduce(t, ReduceOp::average);
  std::vector<double> v0 = a0.to_vector<double>(), v1 = a1.to_vector<double>(),
                      got = t.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], (v0[i] + v1[i]) / 2.0) << i;
}

// bf16 goes through f32: the result is the f32 sum (average) of the bf16 inputs, rounded once.
TEST(MpiCommunicator, AllReduceBf16RoundsOnce) {
  for (int64_t n : kSizes) {
    Tensor a0 = random_tensor({n}, 200, -4.f, 4.f).to(DType::bf16);
    Tensor a1 = random_tensor({n}, 201, -4.f, 4.f).to(DType::bf16);
    std::vector<bf16> v0 = a0.to_vector<bf16>(), v1 = a1.to_vector<bf16>();
    Tensor sum = (comm().rank() == 0 ? a0 : a1).clone();
    Tensor avg = sum.clone();
    comm().all_reduce(sum, ReduceOp::sum);
    comm().all_reduce(avg, ReduceOp::average);
    ASSERT_EQ(sum.dtype(), DType::bf16);
    std::vector<bf16> s = sum.to_vector<bf16>(), a = avg.to_vector<bf16>();
    for (int64_t i = 0; i < n; ++i) {
      float exact = to_f32(v0[i]) + to_f32(v1[i]);
      ASSERT_EQ(s[i].bits, to_bf16(exact).bits) << "n " << n << " at " << i;
      ASSERT_EQ(a[i].bits, to_bf16(exact / 2.f).bits) << "n " << n << " at " << i;
    }
  }
}

// Several reductions in flight at once, waited in order.
TEST(MpiCommunicator, AsyncAllReducesInFlight) {
  std::vector<Tensor> ts;
  std::vector<std::unique_ptr<Work>> works;
  for (int k = 0; k < 5; ++k) {
    ts.push_back(Tensor::full({100 + k}, comm().rank() + k));
    works.push_back(comm().all_reduce_async(ts.back(), ReduceOp::sum));
  }
  for (auto& w : works) w->wait();
  for (int k = 0; k < 5; ++k)
    for (float v : ts[k].to_vector<float>()) ASSERT_EQ(v, 1.f + 2.f * k);
}

TEST(MpiCommunicator, BroadcastFromEitherRoot) {
  for (int root : {0, 1}) {
    Tensor expect = random_tensor({3, 5}, 300 + root);
    Tensor t = comm().rank() == root ? expect.clone() : Tensor::zeros({3, 5});
    comm().broadcast(t, root);
    EXPECT_EQ(t.to_vector<float>(), expect.to_vector<float>()) << "root " << root;
  }
  Tensor ids = Tensor::from_vector<int64_t>(
      comm().rank() == 0 ? std::vector<int64_t>{1, -2, 3} : std::vector<int64_t>{0, 0, 0}, {3});
  comm().broadcast(ids, 0);
  EXPECT_EQ(ids.to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_MINIDL_ERROR(comm().broadcast(ids, 2), "root 2");
}

// Rank 1 arrives 300 ms late: rank 0 cannot leave the barrier before it.
TEST(MpiCommunicator, Barrier) {
  comm().barrier();
  auto start = std::chrono::steady_clock::now();
  if (comm().rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm().barrier();
  if (comm().rank() == 0)
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
}

TEST(MpiCommunicator, AllGather) {
  const int64_t r = comm().rank();
  EXPECT_EQ(comm().all_gather(std::vector<int64_t>{r, 10 * r + 1}),
            (std::vector<int64_t>{0, 1, 1, 11}));
  EXPECT_EQ(comm().all_gather(std::vector<double>{0.25 + r}), (std::vector<double>{0.25, 1.25}));
  // Different lengths: both ranks learn it from the lengths' gather and throw.
  EXPECT_MINIDL_ERROR(comm().all_gather(std::vector<int64_t>(1 + r, 5)), "all_gather: rank",
                      "every rank must give the same number");
}

// Conv with bias, BN, Linear: six parameters of a real model's arena.
std::shared_ptr<Sequential> small_net() {
  return sequential({std::make_shared<Conv2d>(3, 16, 3, 1, 1, true),
                     std::make_shared<BatchNorm2d>(16), std::make_shared<ReLU>(),
                     std::make_shared<GlobalAvgPool2d>(), std::make_shared<Flatten>(),
                     std::make_shared<Linear>(16, 40)});
}

// Each rank fills its gradients from seeds of its rank and marks the parameters in a different
// order (rank 0 backward, rank 1 forward): both end with the average, exactly, for two steps.
TEST(MpiGradReducer, AveragesARealArenaOverTwoRanks) {
  auto net = small_net();
  auto arena = net->arena();
  const size_t n = arena->parameters().size();
  GradReducer reducer(comm(), arena, 2048);  // several buckets
  ASSERT_GT(reducer.buckets().size(), 2u);
  for (int step = 0; step < 2; ++step) {
    auto seed = [&](int rank, size_t i) {
      return static_cast<uint32_t>(1000 * step + 100 * rank + i);
    };
    for (size_t i = 0; i < n; ++i) {
      Parameter& p = *arena->parameters()[i];
      p.grad.copy_(random_tensor(p.grad.shape(), seed(comm().rank(), i)));
    }
    for (size_t k = 0; k < n; ++k) reducer.mark_ready(comm().rank() == 0 ? n - 1 - k : k);
    reducer.finish();
    for (size_t i = 0; i < n; ++i) {
      Parameter& p = *arena->parameters()[i];
      std::vector<float> g0 = random_tensor(p.grad.shape(), seed(0, i)).to_vector<float>();
      std::vector<float> g1 = random_tensor(p.grad.shape(), seed(1, i)).to_vector<float>();
      std::vector<float> got = p.grad.to_vector<float>();
      for (size_t j = 0; j < got.size(); ++j)
        ASSERT_EQ(got[j], (g0[j] + g1[j]) / 2.f) << p.name << " step " << step << " at " << j;
    }
  }
}

}  // namespace
}  // namespace minidl
