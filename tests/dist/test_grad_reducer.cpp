// GradReducer (dist/grad_reducer.h) over a recording communicator of world size 1: buckets are the
// arena's, a bucket is launched as soon as it and all buckets before it are complete, in bucket
// order whatever the marking order, finish() waits for every launch and readies the next step, and
// the contract's violations are errors naming the parameter.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/grad_reducer.h"
#include "tests/testing.h"

namespace minidl {
namespace {

// World size 1; records each all_reduce (which bucket: its data pointer) and each wait.
class RecordingCommunicator : public Communicator {
 public:
  RecordingCommunicator() : Communicator(0, 1, 0) {}
  const char* backend() const override { return "recording"; }
  Device device() const override { return Device::cpu(); }
  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce", true);
    EXPECT_EQ(op, ReduceOp::average);
    launched.push_back(t.data_ptr());
    return std::make_unique<CountingWork>(&waits);
  }
  void broadcast(const Tensor&, int) override {}
  void barrier() override {}
  std::vector<void*> launched;
  int waits = 0;

 protected:
  void all_gather_bytes(const void*, size_t, void*) override {}

 private:
  struct CountingWork : Work {
    explicit CountingWork(int* n) : n(n) {}
    void wait() override { ++*n; }
    int* n;
  };
};

// Six parameters of 128 f32 each (512 bytes, one kArenaAlign apart): buckets of 1 KiB hold two.
struct Model {
  std::vector<Parameter> params;
  std::shared_ptr<ParameterArena> arena;
  explicit Model(int n = 6) : params(n) {
    std::vector<Parameter*> ptrs;
    for (int i = 0; i < n; ++i) {
      params[i].name = "p" + std::to_string(i);
      params[i].value = Tensor::zeros({kArenaAlign});
      params[i].grad = Tensor::zeros({kArenaAlign});
      ptrs.push_back(&params[i]);
    }
    arena = ParameterArena::pack(ptrs);
  }
};

TEST(GradReducer, BucketsAreTheArenasInBackwardOrder) {
  Model m;
  RecordingCommunicator comm;
  GradReducer r(comm, m.arena, 1024);
  ASSERT_EQ(r.buckets().size(), 3u);
  EXPECT_EQ(r.bucket_of(5), 0u);
  EXPECT_EQ(r.bucket_of(4), 0u);
  EXPECT_EQ(r.bucket_of(1), 2u);
  EXPECT_EQ(r.bucket_of(0), 2u);
  GradReducer big(comm, m.arena);  // 25 MB: one bucket
  EXPECT_EQ(big.buckets().size(), 1u);
}

// Backward order: each bucket goes as soon as its last parameter is marked.
TEST(GradReducer, LaunchesEachBucketWhenComplete) {
  Model m;
  RecordingCommunicator comm;
  GradReducer r(comm, m.arena, 1024);
  r.mark_ready(5);
  EXPECT_EQ(r.launched(), 0u);
  r.mark_ready(4);
  EXPECT_EQ(r.launched(), 1u);
  r.mark_ready(3);
  r.mark_ready(2);
  EXPECT_EQ(r.launched(), 2u);
  r.mark_ready(1);
  r.mark_ready(0);
  EXPECT_EQ(r.launched(), 3u);
  EXPECT_EQ(comm.waits, 0);
  r.finish();
  EXPECT_EQ(comm.waits, 3);
  ASSERT_EQ(comm.launched.size(), 3u);
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(comm.launched[b], r.buckets()[b].grads.data_ptr());
  EXPECT_EQ(r.launched(), 0u);  // ready for the next step
}

// Forward order (the worst case): nothing may go before bucket 0, then everything goes in order.
TEST(GradReducer, LaunchOrderIsBucketOrderWhateverTheMarkingOrder) {
  Model m;
  RecordingCommunicator comm;
  GradReducer r(comm, m.arena, 1024);
  for (size_t p : {0, 1, 2, 3}) r.mark_ready(p);
  EXPECT_EQ(r.launched(), 0u);  // buckets 2 and 1 are complete but wait for bucket 0
  r.mark_ready(5);
  EXPECT_EQ(r.launched(), 0u);
  r.mark_ready(4);
  EXPECT_EQ(r.launched(), 3u);
  r.finish();
  ASSERT_EQ(comm.launched.size(), 3u);
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(comm.launched[b], r.buckets()[b].grads.data_ptr());
  // A second step in yet another order launches the same buckets in the same order.
  for (size_t p : {2, 5, 0, 4, 3, 1}) r.mark_ready(p);
  r.finish();
  ASSERT_EQ(comm.launched.size(), 6u);
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(comm.launched[3 + b], comm.launched[b]);
}

TEST(GradReducer, ContractViolationsNameTheParameter) {
  Model m;
  RecordingCommunicator comm;
  GradReducer r(comm, m.arena, 1024);
  r.mark_ready(5);
  EXPECT_MINIDL_ERROR(r.mark_ready(5), "parameter 5 was already marked");
  EXPECT_MINIDL_ERROR(r.mark_ready(6), "parameter 6 of a model of 6");
  EXPECT_MINIDL_ERROR(r.finish(), "parameter 0 was never marked ready", "mark_all_ready");
  r.mark_all_ready();
  EXPECT_EQ(r.launched(), 3u);
  r.finish();
}

// With the local backend the average over one rank leaves the gradients as they are.
TEST(GradReducer, LocalBackendKeepsGradients) {
  Model m;
  for (size_t i = 0; i < m.params.size(); ++i)
    m.params[i].grad.copy_(testing::random_tensor({kArenaAlign}, i));
  std::vector<float> before = m.arena->groups()[0].grads.to_vector<float>();
  auto comm = make_local_communicator();
  GradReducer r(*comm, m.arena, 700);  // not a multiple of a parameter: one parameter per bucket
  EXPECT_EQ(r.buckets().size(), 6u);
  r.mark_all_ready();
  r.finish();
  EXPECT_EQ(m.arena->groups()[0].grads.to_vector<float>(), before);
}

TEST(GradReducer, RejectsAnArenaOnAnotherDevice) {
  Model m;
  auto comm = make_local_communicator(Device::cuda(0));
  EXPECT_MINIDL_ERROR(GradReducer(*comm, m.arena), "the arena is on cpu",
                      "local communicator on cuda:0");
}

}  // namespace
}  // namespace minidl
