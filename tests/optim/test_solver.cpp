// The Solver and its parts: a resumed run (dropout included) continues bit-identically, the
// TrainState round-trips and names bad fields, observers see one ordered stream whose running
// figures are the batch figures summed, evaluate/predict leave the model as they found it, and an
// old checkpoint format is refused by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "data/synthetic.h"
#include "layers/layers.h"
#include "optim/checkpoint.h"
#include "optim/metrics.h"
#include "optim/solver.h"
#include "tests/optim/solver_fixture.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using namespace solver_test;

TEST(Solver, ResumeWithDropoutIsBitIdentical) {
  TempDir dir;
  Experiment a(1, options(dir.str() + "/a"));
  ASSERT_EQ(a.solver->run(), SolverStatus::finished);

  // b stops after 12 iterations (its last checkpoint is at 10); c, built with other initial
  // weights and a fresh dropout stream, resumes b's run and must end exactly where a ended.
  Experiment b(1, options(dir.str() + "/b"));
  b.solver->on_iteration([](const IterationRecord& r) { return r.iteration < 12; });
  ASSERT_EQ(b.solver->run(), SolverStatus::stopped_by_callback);
  Experiment c(7, options(dir.str() + "/b"));
  c.solver->resume(dir.str() + "/b");
  EXPECT_EQ(c.solver->state().iteration, 10);
  EXPECT_EQ(c.train->position(), (LoaderPosition{1, 4}));  // 10 = 1 epoch of 6 + 4
  ASSERT_EQ(c.solver->run(), SolverStatus::finished);

  Checkpoint ca = load_checkpoint(dir.str() + "/a"), cc = load_checkpoint(dir.str() + "/b");
  expect_same_tensors(ca.model, cc.model);
  expect_same_tensors(ca.optimizer, cc.optimizer);
  EXPECT_TRUE(ca.model.count("3.rng_state")) << "the dropout stream is part of the weights";
  TrainState sa = a.solver->state(), sc = c.solver->state();
  EXPECT_EQ(sa.iteration, sc.iteration);
  EXPECT_EQ(sa.smoothed.average, sc.smoothed.average);
  EXPECT_EQ(sa.smoothed.minimum, sc.smoothed.minimum);
  EXPECT_EQ(a.solver->last_eval().loss, c.solver->last_eval().loss);
}

TEST(Solver, RefusesACheckpointOfAnotherFormatOrSchedule) {
  TempDir dir;
  Experiment a(1, options(dir.str()));
  a.solver->on_iteration([](const IterationRecord& r) { return r.iteration < 5; });
  a.solver->run();
  Checkpoint c = load_checkpoint(latest_checkpoint(dir.str()));
  c.state.erase("format");  // as a format-1 checkpoint has it
  std::string bad = save_checkpoint(dir.str(), 99, c);
  Experiment b(1, options(dir.str()));
  EXPECT_MINIDL_ERROR(b.solver->resume(bad), "format 1", "this minidl reads format 2");

  c.state["format"] = kCheckpointFormat;
  c.state["momentum_schedule"] = "fixed:value=0.5";
  save_checkpoint(dir.str(), 99, c);
  EXPECT_MINIDL_ERROR(b.solver->resume(bad), "momentum_schedule fixed:value=0.5");
  EXPECT_EQ(b.solver->state().iteration, 0) << "nothing is loaded from a refused checkpoint";
  // the run directory: the refused newest is skipped, the older one (iteration 5) resumed
  std::vector<std::string> skipped;
  b.solver->resume(dir.str(), &skipped);
  EXPECT_EQ(b.solver->state().iteration, 5);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("momentum_schedule"), std::string::npos) << skipped[0];
}

TEST(Solver, ACheckpointWithoutANewerSettingResumesWhenItIsOff) {
  Checkpoint c;
  c.state["config"] = {{"model", "lenet"}, {"threads", 2}};
  nlohmann::json config = {{"model", "lenet"}, {"threads", 1}, {"init_from", ""}};
  EXPECT_NO_THROW(check_checkpoint_config(c, config, "ckpt"));  // threads may change; "" is off
  config["init_from"] = "w.safetensors";
  EXPECT_MINIDL_ERROR(check_checkpoint_config(c, config, "ckpt"), "init_from");
  config["init_from"] = "";
  config["model"] = "resnet20";
  EXPECT_MINIDL_ERROR(check_checkpoint_config(c, config, "ckpt"), "model");
}

// A dataset whose images can break (a corrupt file met mid-run) and be mended.
struct BreakableDataset : Dataset {
  std::shared_ptr<const Dataset> inner;
  mutable bool broken = false;
  explicit BreakableDataset(std::shared_ptr<const Dataset> d) : inner(std::move(d)) {}
  int64_t size() const override { return inner->size(); }
  Shape image_shape() const override { return inner->image_shape(); }
  int64_t num_classes() const override { return inner->num_classes(); }
  std::string name() const override { return "breakable"; }
  Sample get(int64_t i) const override {
    MINIDL_CHECK(!broken, "images/", i, ".png: corrupt");
    return inner->get(i);
  }
  int64_t label(int64_t i) const override { return inner->label(i); }
};

TEST(Solver, ABatchThatCannotBeBuiltEndsTheRunWithACheckpointToResumeFrom) {
  TempDir dir;
  auto data = std::make_shared<BreakableDataset>(
      materialize(SyntheticDataset(96, {1, 8, 8}, 4, 11, "synthetic/train")));
  SolverOptions o = options(dir.str());
  o.checkpoint_every = -1;  // at the end only: the failure's own checkpoint is the one to resume
  Experiment a(1, o, data);
  a.solver->on_iteration([&](const IterationRecord& r) {
    data->broken = r.iteration == 7;  // the batch of iteration 8 cannot be built
    return true;
  });
  EXPECT_MINIDL_ERROR(a.solver->run(), "images/", "corrupt", "at iteration 7",
                      "continue with --resume");
  EXPECT_EQ(fs::path(latest_checkpoint(dir.str())).filename(), "iter_000000007");
  data->broken = false;  // the file fixed
  Experiment b(1, o, data);
  b.solver->resume(dir.str());
  EXPECT_EQ(b.solver->state().iteration, 7);
  EXPECT_EQ(b.solver->run(), SolverStatus::finished);
}

TEST(Solver, ObserversSeeOneOrderedStream) {
  SolverOptions o = options("");
  o.eval_every = 0;  // at each epoch's end (6 iterations) and at the last
  Experiment e(1, o);
  Recorder rec;
  e.solver->add_observer(rec);
  ASSERT_EQ(e.solver->run(), SolverStatus::finished);
  ASSERT_EQ(rec.records.size(), 20u);
  EXPECT_EQ(rec.ends, 1);
  double loss_sum = 0, correct = 0;
  for (size_t i = 0; i < rec.records.size(); ++i) {
    const IterationRecord& r = rec.records[i];
    EXPECT_EQ(r.iteration, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(r.epoch(), static_cast<int64_t>(i) / 6);
    EXPECT_EQ(rec.evaluated[i], r.iteration % 6 == 0 || r.iteration == 20) << r.iteration;
    EXPECT_DOUBLE_EQ(r.lr, e.lr->value(r.iteration - 1));
    loss_sum += r.loss * 16;
    correct += r.top1 * 16;
    EXPECT_DOUBLE_EQ(r.totals.loss_sum, loss_sum);  // the totals are the batch figures summed
    EXPECT_NEAR(r.totals.correct, correct, 1e-9);
    EXPECT_EQ(r.totals.samples, 16.0 * r.iteration);
  }
  EXPECT_EQ(e.solver->state().iteration, 20);
  EXPECT_EQ(e.solver->state().skipped_steps, 0);
}

TEST(Solver, CountsSkippedStepsInItsState) {
  SolverOptions o = options("");
  int calls = 0;
  // a NaN gradient at iterations 3 and 7: the optimiser skips those steps, the Solver counts them
  o.gradient_hook = [&calls](const std::vector<Parameter*>& params) {
    if (++calls == 3 || calls == 7)
      params[0]->grad.narrow(0, 0, 1).copy_(Tensor::full({1, 64}, NAN));
  };
  Experiment e(1, o);
  Recorder rec;
  e.solver->add_observer(rec);
  ASSERT_EQ(e.solver->run(), SolverStatus::finished);
  EXPECT_EQ(e.solver->state().skipped_steps, 2);
  EXPECT_EQ(e.opt->steps(), 18);  // the optimiser's own count: applied steps only
  for (const IterationRecord& r : rec.records)
    EXPECT_EQ(r.step_applied, r.iteration != 3 && r.iteration != 7) << r.iteration;
}

// The data-parallel path at world size 1 (a local communicator): the reducer's buckets (tiny, so
// many), the backward hook, the broadcasts and the per-iteration all_gather all run and change
// nothing: the weights and records equal a plain run's bit for bit, with overlap on and off.
TEST(Solver, DataParallelPathAtWorldOneEqualsOneProcess) {
  Experiment plain(1, options(""));
  Recorder plain_rec;
  plain.solver->add_observer(plain_rec);
  ASSERT_EQ(plain.solver->run(), SolverStatus::finished);
  for (bool overlap : {true, false}) {
    std::unique_ptr<Communicator> comm = make_local_communicator();
    SolverOptions o = options("");
    o.comm = comm.get();
    o.bucket_bytes = 1024;
    o.overlap = overlap;
    Experiment dp(1, o);
    Recorder rec;
    dp.solver->add_observer(rec);
    ASSERT_EQ(dp.solver->run(), SolverStatus::finished);
    std::map<std::string, Tensor> a = plain.net->state_dict(), b = dp.net->state_dict();
    for (const auto& [name, t] : a)
      EXPECT_TRUE(testing::all_close(b.at(name), t, 0, 0)) << name << " overlap " << overlap;
    ASSERT_EQ(rec.records.size(), plain_rec.records.size());
    for (size_t i = 0; i < rec.records.size(); ++i)
      EXPECT_EQ(rec.records[i].loss, plain_rec.records[i].loss) << i;
    EXPECT_EQ(dp.solver->last_eval().top1, plain.solver->last_eval().top1);
  }
}

TEST(Evaluate, SameSamplesEveryTimeAndTheModeIsRestored) {
  Experiment e(1, options(""));
  e.net->train();
  SoftmaxCrossEntropy plain;
  EvalResult r1 = evaluate(*e.net, plain, *e.test), r2 = evaluate(*e.net, plain, *e.test, 1);
  EXPECT_TRUE(e.net->training());
  EXPECT_EQ(r1.samples, 32);
  EXPECT_EQ(r2.samples, 16);
  EXPECT_EQ(evaluate(*e.net, plain, *e.test).loss, r1.loss);  // dropout is off in eval mode
  // predict gives the logits of an eval-mode forward, in batches. Not bit for bit: the GEMM and
  // convolution libraries may sum a batch of 5 in another order than one of 16 (seen on an AMD
  // EPYC Zen 5), so within f32 rounding.
  Batch b = e.test->next();
  Tensor logits = predict(*e.net, b.images, 5, Device::cpu());
  e.net->eval();
  EXPECT_TRUE(testing::all_close(logits, e.net->forward(b.images), 1e-5, 1e-5));
}

TEST(TrainState, RoundTripsAndNamesABadField) {
  TrainState s;
  s.iteration = 41;
  s.skipped_steps = 2;
  s.smoothed.add(2.5);
  s.smoothed.add(1.25);
  s.totals = {30.5, 12, 20, 3.75};
  TrainState back = TrainState::from_json(nlohmann::json::parse(s.to_json().dump()));
  EXPECT_EQ(back.iteration, 41);
  EXPECT_EQ(back.skipped_steps, 2);
  EXPECT_EQ(back.smoothed.average, s.smoothed.average);
  EXPECT_EQ(back.smoothed.minimum, s.smoothed.minimum);
  EXPECT_EQ(back.smoothed.count, 2);
  EXPECT_EQ(back.totals.loss_sum, 30.5);
  EXPECT_EQ(back.totals.seconds, 3.75);
  const std::pair<std::function<void(nlohmann::json&)>, std::string> bad[] = {
      {[](nlohmann::json& j) { j.erase("skipped_steps"); }, "no 'skipped_steps'"},
      {[](nlohmann::json& j) { j["skipped_steps"] = 50; }, "inconsistent"},
      {[](nlohmann::json& j) { j["iteration"] = -5; }, "inconsistent"},
      {[](nlohmann::json& j) { j["iteration"] = 1e12; }, "'iteration' must be an integer"},
      {[](nlohmann::json& j) { j["totals"]["seconds"] = "x"; }, "'seconds' must be a finite"},
      {[](nlohmann::json& j) { j["totals"]["samples"] = -1.0; }, "totals are inconsistent"},
      {[](nlohmann::json& j) { j["smoothed_loss"] = 3; }, "'smoothed_loss' must be a map"},
  };
  for (const auto& [change, fragment] : bad) {
    nlohmann::json j = s.to_json();
    change(j);
    EXPECT_MINIDL_ERROR(TrainState::from_json(j), fragment);
  }
  EXPECT_EQ(loader_position(13, 6), (LoaderPosition{2, 1}));
}

// metrics.csv rows without their timing columns (img_per_s, elapsed_s).
std::vector<std::string> metrics_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) {
    size_t cut = line.size();
    for (int commas = 0; commas < 2 && cut != std::string::npos; ++commas)
      cut = line.rfind(',', cut - 1);
    rows.push_back(line.substr(0, cut));
  }
  return rows;
}

// A run with metrics.csv (a row every 3 iterations: rows and checkpoints, every 5, do not align).
SolverStatus run_with_metrics(Experiment& e, const std::string& dir, int64_t keep_through,
                              int64_t stop_at = -1) {
  MetricsObserver metrics(dir + "/metrics.csv", keep_through, 3);
  e.solver->add_observer(metrics);
  if (stop_at > 0)
    e.solver->on_iteration([stop_at](const IterationRecord& r) { return r.iteration < stop_at; });
  return e.solver->run();
}

TEST(Solver, AResumedRunReportsWhatTheUninterruptedOneDid) {
  TempDir dir;
  const std::string a = dir.str() + "/a", b = dir.str() + "/b";
  Experiment ea(1, options(a));
  fs::create_directories(a);
  ASSERT_EQ(run_with_metrics(ea, a, -1), SolverStatus::finished);
  {
    Experiment eb(1, options(b));
    fs::create_directories(b);
    ASSERT_EQ(run_with_metrics(eb, b, -1, 12), SolverStatus::stopped_by_callback);
  }
  Experiment ec(7, options(b));
  EXPECT_EQ(ec.solver->resume(b), latest_checkpoint(b));  // iteration 10
  ASSERT_EQ(run_with_metrics(ec, b, ec.solver->state().iteration), SolverStatus::finished);
  // the running train loss and accuracy of every row, the row across the resume included
  EXPECT_EQ(metrics_rows(b + "/metrics.csv"), metrics_rows(a + "/metrics.csv"));
  EXPECT_EQ(ec.solver->state().totals.loss_sum, ea.solver->state().totals.loss_sum);
}

TEST(Solver, ResumeFallsBackFromAnUnreadableCheckpointAndRefusesOneThatDoesNotFit) {
  TempDir dir;
  {
    Experiment e(1, options(dir.str()));
    e.solver->on_iteration([](const IterationRecord& r) { return r.iteration < 12; });
    e.solver->run();  // checkpoints at 5 and 10
  }
  std::vector<std::string> folders = list_checkpoints(dir.str());
  ASSERT_EQ(folders.size(), 2u);
  fs::resize_file(folders[1] + "/model.safetensors", 100);  // the newest, cut short
  Experiment e(1, options(dir.str()));
  std::vector<std::string> skipped;
  EXPECT_EQ(e.solver->resume(dir.str(), &skipped), folders[0]);
  EXPECT_EQ(e.solver->state().iteration, 5);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find(folders[1]), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[0].find("model.safetensors"), std::string::npos) << skipped[0];

  // a checkpoint beyond the run's length, or of another experiment, changes nothing
  SolverOptions shorter = options(dir.str());
  shorter.max_iter = 4;
  Experiment s(1, shorter);
  EXPECT_MINIDL_ERROR(s.solver->resume(folders[0]), "iteration 5, past this run's 4");
  SolverOptions other = options(dir.str());
  other.config = {{"batch_size", 64}};
  Checkpoint c = load_checkpoint(folders[0]);
  c.state["config"] = {{"batch_size", 32}, {"threads", 1}};
  save_checkpoint(dir.str(), 5, c);
  Experiment o(1, other);
  std::map<std::string, Tensor> before = o.net->state_dict();
  EXPECT_MINIDL_ERROR(o.solver->resume(folders[0]), "trained with batch_size = 32",
                      "this run has 64");
  EXPECT_EQ(o.solver->state().iteration, 0);
  for (const auto& [name, t] : o.net->state_dict())
    EXPECT_TRUE(testing::all_close(t, before.at(name), 0, 0)) << name;
}

}  // namespace
}  // namespace minidl
