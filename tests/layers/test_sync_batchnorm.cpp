// BatchNorm2d in synchronised mode (set_sync): at world size 1 it equals the per-rank path; two
// ranks simulated by two threads over halves of a batch equal one process over the whole batch;
// gradient checks in double; eval mode never communicates; the value count stays exact beyond
// f32's integer range.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "layers/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/image_layout.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::check_accumulates;
using testing::check_gradients;
using testing::random_double;
using testing::random_tensor;

// The inputs the layer accepts: [N, C], [N, C, L], [N, C, H, W] in NCHW and channels-last.
struct Layout {
  const char* name;
  Shape shape;
  bool channels_last;
};
const std::vector<Layout> kLayouts = {{"NCHW", {6, 3, 4, 5}, false},
                                      {"channels-last", {6, 3, 4, 5}, true},
                                      {"NC", {10, 4}, false},
                                      {"NCL", {6, 3, 7}, false}};

Tensor in_layout(const Tensor& t, bool channels_last) {
  return channels_last ? t.contiguous(MemoryFormat::channels_last) : t;
}

std::vector<BatchNormOptions> option_sets() {
  std::vector<BatchNormOptions> all;
  for (bool affine : {true, false})
    for (bool caffe : {false, true}) {
      BatchNormOptions o = caffe ? BatchNormOptions::caffe(0.9) : BatchNormOptions::pytorch(0.1);
      o.affine = affine;
      all.push_back(o);
    }
  return all;
}

// Gives every module the same random weight and bias (when affine).
void set_affine(BatchNorm2d& bn, int64_t C) {
  if (!bn.weight()) return;
  bn.weight()->value.copy_(random_tensor({C}, 40, 0.5f, 1.5f));
  bn.bias()->value.copy_(random_tensor({C}, 41));
}

// Everything the comparison looks at after a few training steps.
struct Steps {
  std::vector<Tensor> y, dx;
};

Steps train_steps(BatchNorm2d& bn, const std::vector<Tensor>& xs, const std::vector<Tensor>& dys) {
  Steps r;
  for (size_t i = 0; i < xs.size(); ++i) {
    r.y.push_back(bn.forward(xs[i]));
    r.dx.push_back(bn.backward(dys[i]));
  }
  return r;
}

// A few batches with means far from 0 and different from step to step (so the running statistics
// move), and their output gradients.
void make_batches(const Layout& l, std::vector<Tensor>& xs, std::vector<Tensor>& dys) {
  for (uint32_t step = 0; step < 3; ++step) {
    xs.push_back(in_layout(random_tensor(l.shape, 100 + step, -2.f + step, 3.f + 2 * step),
                           l.channels_last));
    dys.push_back(in_layout(random_tensor(l.shape, 200 + step), l.channels_last));
  }
}

// A sum over one rank: nothing to add, but counts its calls.
CrossRankSum counting_sum(int& calls) {
  return [&calls](const Tensor&) { ++calls; };
}

// Simulated ranks in threads: each rank's sum(t) waits for every rank's t, and all get the total
// (accumulated in double). Waits time out with an error instead of hanging a failing test.
class ThreadAllSum {
 public:
  explicit ThreadAllSum(int ranks) : ranks_(ranks) {}

  CrossRankSum sum() {
    return [this](const Tensor& t) { all_sum(t); };
  }

 private:
  void all_sum(const Tensor& t) {
    const std::vector<double> mine = t.to_vector<double>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (contributed_ == 0) total_.assign(mine.size(), 0.0);  // the first of a round
      MINIDL_CHECK(total_.size() == mine.size(), "ThreadAllSum: ranks disagree on the size");
      for (size_t i = 0; i < mine.size(); ++i) total_[i] += mine[i];
      if (++contributed_ == ranks_) contributed_ = 0;
    }
    barrier();  // every rank has added its values
    std::vector<double> total;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      total = total_;
    }
    barrier();  // every rank has read the total before the next round starts a new one
    Tensor(t).copy_(Tensor::from_vector(total, t.shape()));  // t: a handle to the caller's data
  }

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t gen = generation_;
    if (++waiting_ == ranks_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    const bool released =
        cv_.wait_for(lock, std::chrono::seconds(60), [&] { return generation_ != gen; });
    MINIDL_CHECK(released, "ThreadAllSum: a rank did not arrive (it failed or hung)");
  }

  const int ranks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<double> total_;
  int contributed_ = 0, waiting_ = 0;
  uint64_t generation_ = 0;
};

std::string describe(const Layout& l, const BatchNormOptions& o) {
  return std::string(l.name) + (o.caffe_style ? " caffe" : " pytorch") +
         (o.affine ? " affine" : " no-affine");
}

TEST(SyncBatchNorm, SetSyncAndSynced) {
  BatchNorm2d bn(3);
  EXPECT_FALSE(bn.synced());
  bn.set_sync([](const Tensor&) {});
  EXPECT_TRUE(bn.synced());
  bn.set_sync({});
  EXPECT_FALSE(bn.synced());
}

// One rank: the synchronised path must give what the per-rank path gives (f32, 1e-5).
TEST(SyncBatchNorm, WorldSizeOneMatchesPerRankPath) {
  for (const Layout& l : kLayouts)
    for (const BatchNormOptions& o : option_sets()) {
      SCOPED_TRACE(describe(l, o));
      const int64_t C = l.shape[1];
      BatchNorm2d ref(C, o), bn(C, o);
      set_affine(ref, C);
      set_affine(bn, C);
      int calls = 0;
      bn.set_sync(counting_sum(calls));
      std::vector<Tensor> xs, dys;
      make_batches(l, xs, dys);
      Steps a = train_steps(ref, xs, dys), b = train_steps(bn, xs, dys);
      EXPECT_EQ(calls, 3 * 3);  // per step: two in forward, one in backward
      for (size_t i = 0; i < xs.size(); ++i) {
        EXPECT_EQ(b.y[i].strides(), xs[i].strides());  // the input's layout
        EXPECT_TRUE(all_close(b.y[i], a.y[i], 1e-5, 1e-5)) << "y, step " << i;
        EXPECT_TRUE(all_close(b.dx[i], a.dx[i], 1e-5, 1e-5)) << "dx, step " << i;
      }
      if (o.affine) {
        EXPECT_TRUE(all_close(bn.weight()->grad, ref.weight()->grad, 1e-5, 1e-5));
        EXPECT_TRUE(all_close(bn.bias()->grad, ref.bias()->grad, 1e-5, 1e-5));
      }
      EXPECT_TRUE(all_close(bn.running_mean()->value, ref.running_mean()->value, 1e-6, 1e-5));
      EXPECT_TRUE(all_close(bn.running_var()->value, ref.running_var()->value, 1e-6, 1e-5));
      EXPECT_EQ(bn.num_batches_tracked()->value.item<int64_t>(), 3);
    }
}

// A fused ReLU in synchronised mode gives exactly what the synchronised layer followed by a ReLU
// gives (the same statistics, then the mask on the output).
TEST(SyncBatchNorm, FusedReluEqualsReluAfterIt) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.name);
    const int64_t C = l.shape[1];
    BatchNorm2d plain(C), fused(C);
    set_affine(plain, C);
    set_affine(fused, C);
    int calls = 0;
    plain.set_sync(counting_sum(calls));
    fused.set_sync(counting_sum(calls));
    fused.set_fused_relu(true);
    std::vector<Tensor> xs, dys;
    make_batches(l, xs, dys);
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor y = plain.forward(xs[i]);
      Tensor r = empty_like_layout(y.shape(), y);
      relu_forward(y, r);
      Tensor yf = fused.forward(xs[i]);
      EXPECT_EQ(yf.to_vector<double>(), r.to_vector<double>()) << "y, step " << i;
      Tensor d = empty_like_layout(y.shape(), y);
      relu_backward(r, dys[i], d);
      EXPECT_EQ(fused.backward(dys[i]).to_vector<double>(), plain.backward(d).to_vector<double>())
          << "dx, step " << i;
    }
    EXPECT_EQ(fused.weight()->grad.to_vector<double>(), plain.weight()->grad.to_vector<double>());
    EXPECT_EQ(fused.bias()->grad.to_vector<double>(), plain.bias()->grad.to_vector<double>());
  }
}

// Two ranks (threads), each with its own copy of the layer and its rows of the batch, against
// one process over the whole batch. Each rank gets the same dy rows as the reference, so: its y
// and dx are the reference's rows, its running statistics the reference's, and the reference's
// weight/bias gradients are the SUM of the two ranks' (each rank keeps its own share; see Note
// [sync BN gradients] in layers/batchnorm.cpp). The channels-last case splits unevenly (4 + 2),
// which only a summed count gets right.
TEST(SyncBatchNorm, TwoRanksMatchOneProcessOverTheWholeBatch) {
  for (const Layout& l : kLayouts)
    for (const BatchNormOptions& o : option_sets()) {
      SCOPED_TRACE(describe(l, o));
      const int64_t C = l.shape[1], N = l.shape[0];
      const int64_t rows0 = l.channels_last ? 4 : N / 2;
      const int64_t start[2] = {0, rows0}, rows[2] = {rows0, N - rows0};
      std::vector<Tensor> xs, dys;
      make_batches(l, xs, dys);

      BatchNorm2d ref(C, o), rank0(C, o), rank1(C, o);
      BatchNorm2d* ranks[2] = {&rank0, &rank1};
      ThreadAllSum comm(2);
      set_affine(ref, C);
      for (BatchNorm2d* bn : ranks) {
        set_affine(*bn, C);
        bn->set_sync(comm.sum());
      }
      const Steps whole = train_steps(ref, xs, dys);

      Steps part[2];
      std::exception_ptr error[2];
      std::vector<std::thread> threads;
      for (int r = 0; r < 2; ++r)
        threads.emplace_back([&, r] {
          try {
            std::vector<Tensor> x, dy;
            for (size_t i = 0; i < xs.size(); ++i) {
              x.push_back(xs[i].narrow(0, start[r], rows[r]));
              dy.push_back(dys[i].narrow(0, start[r], rows[r]));
            }
            part[r] = train_steps(*ranks[r], x, dy);
          } catch (...) {
            error[r] = std::current_exception();
          }
        });
      for (std::thread& t : threads) t.join();
      for (int r = 0; r < 2; ++r)
        if (error[r]) std::rethrow_exception(error[r]);

      for (int r = 0; r < 2; ++r)
        for (size_t i = 0; i < xs.size(); ++i) {
          EXPECT_TRUE(all_close(part[r].y[i], whole.y[i].narrow(0, start[r], rows[r]), 1e-5, 1e-5))
              << "rank " << r << " y, step " << i;
          EXPECT_TRUE(
              all_close(part[r].dx[i], whole.dx[i].narrow(0, start[r], rows[r]), 1e-5, 1e-5))
              << "rank " << r << " dx, step " << i;
        }
      for (BatchNorm2d* bn : ranks) {
        EXPECT_TRUE(all_close(bn->running_mean()->value, ref.running_mean()->value, 1e-6, 1e-5));
        EXPECT_TRUE(all_close(bn->running_var()->value, ref.running_var()->value, 1e-6, 1e-5));
      }
      if (o.affine) {
        auto sum_of_ranks = [&](auto grad) {
          std::vector<float> a = grad(rank0).template to_vector<float>(),
                             b = grad(rank1).template to_vector<float>();
          for (size_t c = 0; c < a.size(); ++c) a[c] += b[c];
          return Tensor::from_vector(a, {C});
        };
        EXPECT_TRUE(all_close(sum_of_ranks([](BatchNorm2d& bn) { return bn.weight()->grad; }),
                              ref.weight()->grad, 1e-5, 1e-5));
        EXPECT_TRUE(all_close(sum_of_ranks([](BatchNorm2d& bn) { return bn.bias()->grad; }),
                              ref.bias()->grad, 1e-5, 1e-5));
      }
    }
}

TEST(SyncBatchNorm, GradientCheckAtWorldSizeOne) {
  int calls = 0;
  for (bool affine : {true, false}) {
    BatchNormOptions o;
    o.affine = affine;
    BatchNorm2d bn(3, o);
    bn.to(DType::f64);
    bn.set_sync(counting_sum(calls));
    if (affine) {
      bn.weight()->value.copy_(random_double({3}, 4, 0.5, 2));
      bn.bias()->value.copy_(random_double({3}, 5));
    }
    EXPECT_TRUE(check_gradients(bn, random_double({4, 3, 3, 2}, 6, -1, 3))) << affine;
    EXPECT_TRUE(check_accumulates(bn, random_double({3, 3, 2, 2}, 8)));
  }
  for (const Shape& shape : {Shape{6, 5}, Shape{3, 4, 5}}) {  // [N, C], [N, C, L]
    BatchNorm2d bn(shape[1]);
    bn.to(DType::f64);
    bn.set_sync(counting_sum(calls));
    bn.weight()->value.copy_(random_double({shape[1]}, 9, 0.5, 2));
    EXPECT_TRUE(check_gradients(bn, random_double(shape, 7))) << shape_str(shape);
  }
  EXPECT_GT(calls, 0);
}

// Without input_grad, backward returns no dx and does not communicate; the parameter gradients
// are still this rank's.
TEST(SyncBatchNorm, NoInputGradSkipsDxAndItsSum) {
  BatchNorm2d ref(3), bn(3);
  set_affine(ref, 3);
  set_affine(bn, 3);
  int calls = 0;
  bn.set_sync(counting_sum(calls));
  bn.set_input_grad(false);
  Tensor x = random_tensor({4, 3, 2, 5}, 1, -1, 2), dy = random_tensor({4, 3, 2, 5}, 2);
  ref.forward(x);
  ref.backward(dy);
  bn.forward(x);
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(bn.backward(dy).defined());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(all_close(bn.weight()->grad, ref.weight()->grad, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(bn.bias()->grad, ref.bias()->grad, 1e-5, 1e-5));
}

TEST(SyncBatchNorm, EvalModeNeverCommunicates) {
  for (bool track : {true, false}) {
    SCOPED_TRACE(track ? "running statistics" : "no running statistics");
    BatchNormOptions o;
    o.track_running_stats = track;
    BatchNorm2d ref(3, o), bn(3, o);
    int calls = 0;
    bn.set_sync(counting_sum(calls));
    Tensor x = random_tensor({4, 3, 2, 2}, 3, -1, 2);
    ref.forward(x);  // one training step, so that the running statistics are not the initial ones
    bn.forward(x);
    ASSERT_EQ(calls, 2);
    ref.eval();
    bn.eval();
    Tensor x2 = random_tensor({4, 3, 2, 2}, 4, 0, 5);
    EXPECT_TRUE(all_close(bn.forward(x2), ref.forward(x2), 1e-6, 1e-6));
    EXPECT_EQ(calls, 2);
  }
}

// Many identical ranks, simulated by a sum that multiplies by their number R: the statistics are
// the one rank's, over R * m = 18,000,000 values per channel, beyond f32's exact integers (2^24).
TEST(SyncBatchNorm, CountBeyondF32ExactIntegers) {
  const double R = 2000;  // m = 3 * 50 * 60 = 9000 values per channel and rank
  BatchNorm2d ref(2), bn(2);
  bn.set_sync([R](const Tensor& t) {
    std::vector<float> v = t.to_vector<float>();
    for (float& e : v) e *= static_cast<float>(R);
    Tensor(t).copy_(Tensor::from_vector(v, t.shape()));
  });
  Tensor x = random_tensor({3, 2, 50, 60}, 5, -1, 3);
  EXPECT_TRUE(all_close(bn.forward(x), ref.forward(x), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(bn.running_mean()->value, ref.running_mean()->value, 1e-6, 1e-5));

  // A count part that reaches 2^24 can no longer be trusted: an error, not wrong statistics.
  BatchNorm2d too_many(2);
  too_many.set_sync([](const Tensor& t) {
    if (t.numel() == 4) t.narrow(0, 3, 1).copy_(Tensor::full({1}, 16777216.0));  // [S, lo, hi]
  });
  EXPECT_MINIDL_ERROR(too_many.forward(x), "too many values per channel");
}

}  // namespace
}  // namespace minidl
