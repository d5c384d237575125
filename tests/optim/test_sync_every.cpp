// SolverOptions::sync_every: the host reads the step log every k iterations, yet the run is the
// one read every step: the same records in the same order (loss, smoothed loss, top-1, skips,
// totals, evaluations), the same weights, optimiser state and checkpoints, bit for bit; with
// skipped steps, evaluation and checkpoint periods that are not multiples of k, the torch form's
// first step skipped, and the data-parallel path. The reads really are deferred (the observer
// hears of an iteration only at its window's read); a stop takes effect at the read and resumes
// exactly; f16's loss scaling refuses a k above 1.
#include <gtest/gtest.h>

#include <cmath>

#include "dist/communicator.h"
#include "tests/optim/solver_fixture.h"

namespace minidl {
namespace {

using namespace solver_test;

// A run whose gradient hook counts launches (and poisons the gradients of `nan_at`), with an
// observer that notes how many iterations had been launched when each record arrived.
struct Traced {
  int launched = 0;
  std::vector<int> nan_at;
  std::vector<int> launched_when_heard;
  Recorder rec;
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<Experiment> e;

  Traced(SolverOptions o, std::vector<int> nans, bool torch_form = false, bool data_parallel = false)
      : nan_at(std::move(nans)) {
    o.gradient_hook = [this](const std::vector<Parameter*>& params) {
      ++launched;
      for (int at : nan_at)
        if (at == launched) params[0]->grad.narrow(0, 0, 1).copy_(Tensor::full({1, 64}, NAN));
    };
    if (data_parallel) {
      comm = make_local_communicator();
      o.comm = comm.get();
    }
    e = std::make_unique<Experiment>(1, o);
    if (torch_form) {
      e->solver.reset();
      e->opt = std::make_unique<Sgd>(*e->net, SgdOptions{SgdForm::torch, true, 1e-3});
      e->solver = std::make_unique<Solver>(*e->net, e->loss, *e->opt, *e->lr, *e->mom, *e->train,
                                           e->test.get(), o);
    }
    e->solver->add_observer(rec);
    e->solver->add_observer(heard_);
  }

 private:
  // Notes how many iterations were launched when each record is heard.
  struct Heard : TrainObserver {
    Traced* run;
    explicit Heard(Traced* r) : run(r) {}
    void on_iteration(const IterationRecord&) override {
      run->launched_when_heard.push_back(run->launched);
    }
  } heard_{this};
};

void expect_same_run(const Traced& a, const Traced& b) {
  ASSERT_EQ(a.rec.records.size(), b.rec.records.size());
  for (size_t i = 0; i < a.rec.records.size(); ++i) {
    const IterationRecord &x = a.rec.records[i], &y = b.rec.records[i];
    SCOPED_TRACE(::testing::Message() << "iteration " << x.iteration);
    EXPECT_EQ(x.iteration, y.iteration);
    EXPECT_EQ(x.lr, y.lr);
    EXPECT_EQ(x.momentum, y.momentum);
    EXPECT_EQ(x.loss, y.loss);
    EXPECT_EQ(x.smoothed_loss, y.smoothed_loss);
    EXPECT_EQ(x.top1, y.top1);
    EXPECT_EQ(x.step_applied, y.step_applied);
    EXPECT_EQ(x.totals.loss_sum, y.totals.loss_sum);
    EXPECT_EQ(x.totals.correct, y.totals.correct);
    EXPECT_EQ(x.totals.samples, y.totals.samples);
    EXPECT_EQ(a.rec.evaluated[i], b.rec.evaluated[i]);
  }
  expect_same_tensors(a.e->net->state_dict(), b.e->net->state_dict());
  expect_same_tensors(a.e->opt->state_dict(), b.e->opt->state_dict());
  EXPECT_EQ(a.e->solver->state().skipped_steps, b.e->solver->state().skipped_steps);
  EXPECT_EQ(a.e->solver->last_eval().loss, b.e->solver->last_eval().loss);
}

TEST(SyncEvery, ReadingEveryKStepsChangesNothingButWhenTheHostHears) {
  TempDir dir;
  SolverOptions o = options(dir.str() + "/every");  // 20 iterations, eval every 4, checkpoint 5
  Traced every(o, {3, 7});
  ASSERT_EQ(every.e->solver->run(), SolverStatus::finished);
  ASSERT_EQ(every.rec.records.size(), 20u);
  EXPECT_EQ(every.e->solver->state().skipped_steps, 2);

  for (int64_t k : {3, 7, 50}) {
    for (bool dp : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "sync_every " << k << (dp ? " data parallel" : ""));
      SolverOptions ok = options(dir.str() + "/k" + std::to_string(k) + (dp ? "dp" : ""));
      ok.sync_every = k;
      Traced run(ok, {3, 7}, false, dp);
      ASSERT_EQ(run.e->solver->run(), SolverStatus::finished);
      expect_same_run(every, run);
      // Each record is heard at its window's read: the next multiple of k, evaluation (4),
      // checkpoint (5) or the end (20), whichever comes first.
      for (int it = 1; it <= 20; ++it) {
        int read = it;
        while (read % k != 0 && read % 4 != 0 && read % 5 != 0 && read != 20) ++read;
        EXPECT_EQ(run.launched_when_heard[it - 1], read) << "iteration " << it;
      }
      EXPECT_EQ(list_checkpoints(ok.run_dir).size(), list_checkpoints(o.run_dir).size());
      expect_same_tensors(load_checkpoint(ok.run_dir).model, load_checkpoint(o.run_dir).model);
    }
  }
}

// The torch form starts its momentum buffer from the first applied step's gradient: with that
// step skipped twice, the Solver must learn each outcome before launching the next step.
TEST(SyncEvery, TheTorchFormsFirstStepWaitsForTheOutcomesBeforeIt) {
  SolverOptions o = options("");
  Traced every(o, {1, 2}, true);
  ASSERT_EQ(every.e->solver->run(), SolverStatus::finished);
  o.sync_every = 8;
  Traced run(o, {1, 2}, true);
  ASSERT_EQ(run.e->solver->run(), SolverStatus::finished);
  expect_same_run(every, run);
  EXPECT_EQ(run.launched_when_heard[0], 1);
  EXPECT_EQ(run.launched_when_heard[2], 3) << "read until a step is known applied";
  EXPECT_EQ(run.launched_when_heard[3], 4) << "then at the evaluation";
  EXPECT_EQ(run.launched_when_heard[5], 8);
}

// SIGINT during a window stops at its read, with a checkpoint there, and the resumed run ends
// where an uninterrupted one does.
TEST(SyncEvery, AStopTakesEffectAtTheReadAndResumesExactly) {
  TempDir dir;
  SolverOptions o = options(dir.str() + "/whole");
  o.checkpoint_every = -1;
  o.eval_every = 0;  // each epoch: 6, 12, 18 and 20
  o.sync_every = 4;
  Traced whole(o, {});
  ASSERT_EQ(whole.e->solver->run(), SolverStatus::finished);

  // The stop comes during iteration 7; its window (7, 8) is read at 8.
  std::atomic<bool> stop{false};
  SolverOptions oi = o;
  oi.run_dir = dir.str() + "/stopped";
  oi.stop = &stop;
  int launches = 0;
  oi.gradient_hook = [&](const std::vector<Parameter*>&) {
    if (++launches == 7) stop = true;
  };
  Experiment interrupted(1, oi);
  EXPECT_EQ(interrupted.solver->run(), SolverStatus::interrupted);
  EXPECT_EQ(interrupted.solver->state().iteration, 8);
  EXPECT_EQ(interrupted.solver->message().find("interrupted at iteration 8"), 0u)
      << interrupted.solver->message();

  SolverOptions orr = o;
  orr.run_dir = oi.run_dir;
  Experiment resumed(5, orr);
  resumed.solver->resume(orr.run_dir);
  EXPECT_EQ(resumed.solver->state().iteration, 8);
  ASSERT_EQ(resumed.solver->run(), SolverStatus::finished);
  expect_same_tensors(whole.e->net->state_dict(), resumed.net->state_dict());
  expect_same_tensors(whole.e->opt->state_dict(), resumed.opt->state_dict());
  EXPECT_EQ(whole.e->solver->state().smoothed.average, resumed.solver->state().smoothed.average);
}

TEST(SyncEvery, RefusesZero) {
  SolverOptions o = options("");
  o.sync_every = 0;
  EXPECT_MINIDL_ERROR(Experiment(1, o), "sync_every must be >= 1, got 0");
}

}  // namespace
}  // namespace minidl
