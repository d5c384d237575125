// Dynamic loss scaling (TrainState's LossScale, SolverOptions::dynamic_loss_scale; f16 runs):
// - the scale follows GradScaler's rule: halved and the count restarted on a skipped step,
//   doubled after growth_interval applied steps in a row;
// - in f32, scaling by a power of two is exact, so a scaled run equals an unscaled one bit for bit
//   (the scale reaches every gradient and the step divides it out exactly);
// - a scale too large for f16 overflows the rounded gradients: those steps are skipped, changing
//   nothing, and halve it until it fits; the scale at the end is the rule's over what happened;
// - the state round-trips through state.json (absent: off), and a resumed f16 run continues
//   bit-identically from a checkpoint, its scale restored; a checkpoint of the other kind is
//   refused;
// - the device's copy of the rule (kernels/loss_scale.h, what the step runs) is the host's, and an
//   f16 run that reads its outcomes every 4 steps equals one that reads every step.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/synthetic.h"
#include "kernels/loss_scale.h"
#include "layers/layers.h"
#include "optim/checkpoint.h"
#include "optim/solver.h"
#include "tests/testing.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;

TEST(LossScale, FollowsGradScalersRule) {
  LossScale s;
  s.enabled = true;
  s.growth_interval = 3;
  EXPECT_EQ(s.scale, 65536.0);  // GradScaler's init_scale, 2^16
  struct Step {
    bool applied;
    double scale;
    int64_t tracker;
  };
  const Step steps[] = {{false, 32768, 0}, {false, 16384, 0}, {true, 16384, 1},  {true, 16384, 2},
                        {true, 32768, 0},  {true, 32768, 1},  {false, 16384, 0}, {true, 16384, 1},
                        {true, 16384, 2},  {true, 32768, 0}};
  for (const Step& st : steps) {
    s.update(st.applied);
    EXPECT_EQ(s.scale, st.scale);
    EXPECT_EQ(s.growth_tracker, st.tracker);
  }
}

TEST(LossScale, RoundTripsInTheTrainStateAndIsOffWhenAbsent) {
  TrainState s;
  EXPECT_FALSE(s.to_json().contains("loss_scale"));
  EXPECT_FALSE(TrainState::from_json(s.to_json()).loss_scale.enabled);
  s.loss_scale = {true, 2048.0, 17, 2000};
  TrainState back = TrainState::from_json(nlohmann::json::parse(s.to_json().dump()));
  EXPECT_TRUE(back.loss_scale.enabled);
  EXPECT_EQ(back.loss_scale.scale, 2048.0);
  EXPECT_EQ(back.loss_scale.growth_tracker, 17);
  EXPECT_EQ(back.loss_scale.growth_interval, 2000);
  nlohmann::json j = s.to_json();
  j["loss_scale"]["scale"] = 0.0;
  EXPECT_MINIDL_ERROR(TrainState::from_json(j), "loss_scale is inconsistent");
  j = s.to_json();
  j["loss_scale"].erase("growth_tracker");
  EXPECT_MINIDL_ERROR(TrainState::from_json(j), "growth_tracker");
}

// A small conv net with batch norm on 8x8 synthetic images.
struct ScaledRun {
  std::shared_ptr<const Dataset> train_set =
      materialize(SyntheticDataset(96, {1, 8, 8}, 4, 11, "synthetic/train"));
  std::shared_ptr<Module> net;
  SoftmaxCrossEntropy loss{0.0};
  std::unique_ptr<Sgd> opt;
  std::unique_ptr<Schedule> lr =
      parse_schedule("onecycle-smith:base=0.01,max=0.1,ss=8", ScheduleRole::lr);
  std::unique_ptr<Schedule> mom = parse_schedule("0.9", ScheduleRole::momentum);
  std::unique_ptr<Loader> train;
  std::unique_ptr<Solver> solver;

  ScaledRun(DType precision, SolverOptions o) {
    LoaderOptions lo;
    lo.batch_size = 16;
    lo.seed = 3;
    lo.workers = 0;
    train = std::make_unique<Loader>(train_set, Transform().normalize({0.5f}, {0.25f}), lo);
    manual_seed(5);
    net = sequential({std::make_shared<Conv2d>(1, 6, 3, 1, 1), std::make_shared<BatchNorm2d>(6),
                      std::make_shared<ReLU>(), std::make_shared<Flatten>(),
                      std::make_shared<Linear>(6 * 8 * 8, 4)});
    net->set_compute_precision(precision);
    opt = std::make_unique<Sgd>(*net, SgdOptions{SgdForm::caffe, true, 1e-3});
    solver = std::make_unique<Solver>(*net, loss, *opt, *lr, *mom, *train, nullptr, o);
  }
};

TEST(LossScale, TheDevicesRuleIsTheHosts) {
  LossScale host{true, 256.0, 0, 3};
  Tensor state = loss_scale_state(256.0, 0, Device::cpu());
  Tensor flag = Tensor::zeros({1}, DType::i32), live = Tensor::zeros({4}, DType::i32);
  const std::vector<bool> applied{true, true, true, false, true, true, true, true, false, false,
                                  true, true, true, true, true, true, true};
  for (bool a : applied) {
    flag.data<int32_t>()[0] = a ? 0 : 1;
    loss_scale_update(state, flag, 3);
    host.update(a);
    EXPECT_EQ(state.to_vector<double>(),
              (std::vector<double>{host.scale, static_cast<double>(host.growth_tracker)}));
  }
  EXPECT_EQ(host.scale, 256.0 * 2) << "the sequence grows the scale past its start";
  loss_scale_prepare(state, live);
  const auto* l = reinterpret_cast<const SgdLiveScalars*>(live.data<int32_t>());
  EXPECT_EQ(l->grad_scale, 1.0f / 512.0f);
  EXPECT_EQ(l->lr, 0.f) << "the other fields are left alone";
  Tensor x = Tensor::from_vector<float>({1.5f, -3.f, 0.f}, {3});
  loss_scale_apply(x, state);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{768.f, -1536.f, 0.f}));
  EXPECT_MINIDL_ERROR(loss_scale_update(state, flag, 0), "growth interval 0");
  EXPECT_MINIDL_ERROR(loss_scale_apply(Tensor::zeros({2}, DType::f64), state), "loss_scale_apply",
                      "x must be dense f32");
  EXPECT_MINIDL_ERROR(loss_scale_prepare(state, Tensor::zeros({3}, DType::i32)), "live",
                      "i32 [4]");
}

SolverOptions options(bool scaled, double initial = 65536.0) {
  SolverOptions o;
  o.max_iter = 20;
  o.checkpoint_every = -1;
  o.dynamic_loss_scale = scaled;
  o.initial_loss_scale = initial;
  o.loss_scale_growth_interval = 4;
  return o;
}

void expect_same_weights(Module& a, Module& b) {
  const TensorMap sa = a.state_dict(), sb = b.state_dict();
  for (const auto& [name, t] : sa) EXPECT_TRUE(testing::all_close(sb.at(name), t, 0, 0)) << name;
}

TEST(LossScale, APowerOfTwoScaleChangesNothingInF32) {
  ScaledRun plain(DType::f32, options(false)), scaled(DType::f32, options(true, 1024.0));
  ASSERT_EQ(plain.solver->run(), SolverStatus::finished);
  ASSERT_EQ(scaled.solver->run(), SolverStatus::finished);
  expect_same_weights(*plain.net, *scaled.net);
  EXPECT_EQ(scaled.solver->state().skipped_steps, 0);
  EXPECT_EQ(scaled.solver->state().loss_scale.scale, 1024.0 * 32);  // 20 steps: 5 doublings
}

TEST(LossScale, AnOverflowingScaleSkipsStepsUntilItFits) {
  // f16: 2^24 times the loss gradient overflows f16's 65504 in the rounded gradients.
  ScaledRun run(DType::f16, options(true, std::ldexp(1.0, 24)));
  auto values = [&] {
    std::vector<Tensor> v;
    for (Parameter* p : run.net->parameters()) v.push_back(p->value.clone());
    return v;
  };
  std::vector<Tensor> last = values();
  std::vector<bool> applied;
  run.solver->on_iteration([&](const IterationRecord& r) {
    applied.push_back(r.step_applied);
    std::vector<Tensor> now = values();
    bool changed = false;
    for (size_t k = 0; k < now.size(); ++k) changed |= !testing::all_close(now[k], last[k], 0, 0);
    EXPECT_EQ(changed, r.step_applied) << "iteration " << r.iteration;  // a skip changes nothing
    last = now;
    return true;
  });
  ASSERT_EQ(run.solver->run(), SolverStatus::finished);
  const TrainState& s = run.solver->state();
  ASSERT_EQ(applied.size(), 20u);
  EXPECT_FALSE(applied[0]) << "2^24 must overflow at first";
  ASSERT_GT(s.skipped_steps, 0);
  ASSERT_LT(s.skipped_steps, 20) << "the scale never came to fit";
  EXPECT_EQ(run.opt->steps(), 20 - s.skipped_steps);
  LossScale replay{true, std::ldexp(1.0, 24), 0, 4};  // the rule, run over what happened
  for (bool a : applied) replay.update(a);
  EXPECT_EQ(s.loss_scale.scale, replay.scale);
  EXPECT_EQ(s.loss_scale.growth_tracker, replay.growth_tracker);
}

// The scale is updated on the device as each step ends, so the host may read the outcomes late:
// with steps skipped and the scale grown (2^24 at first, growth every 4 steps), reading every
// 4 steps changes nothing.
TEST(LossScale, AnF16RunReadEvery4StepsEqualsOneReadEveryStep) {
  SolverOptions every = options(true, std::ldexp(1.0, 24)), fourth = every;
  fourth.sync_every = 4;
  ScaledRun a(DType::f16, every), b(DType::f16, fourth);
  std::vector<bool> sa, sb;
  a.solver->on_iteration([&](const IterationRecord& r) { return sa.push_back(r.step_applied), true; });
  b.solver->on_iteration([&](const IterationRecord& r) { return sb.push_back(r.step_applied), true; });
  ASSERT_EQ(a.solver->run(), SolverStatus::finished);
  ASSERT_EQ(b.solver->run(), SolverStatus::finished);
  EXPECT_EQ(sb, sa);
  ASSERT_GT(a.solver->state().skipped_steps, 0);
  EXPECT_EQ(b.solver->state().skipped_steps, a.solver->state().skipped_steps);
  EXPECT_EQ(b.solver->state().loss_scale.scale, a.solver->state().loss_scale.scale);
  EXPECT_EQ(b.solver->state().loss_scale.growth_tracker,
            a.solver->state().loss_scale.growth_tracker);
  expect_same_weights(*a.net, *b.net);
}

TEST(LossScale, AResumedF16RunContinuesBitIdenticallyWithItsScale) {
  const fs::path dir =
      fs::temp_directory_path() / ("minidl_loss_scale_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  SolverOptions o = options(true, std::ldexp(1.0, 30));
  o.checkpoint_every = 5;
  o.keep_checkpoints = 0;
  o.run_dir = (dir / "a").string();
  ScaledRun a(DType::f16, o);
  ASSERT_EQ(a.solver->run(), SolverStatus::finished);

  o.run_dir = (dir / "b").string();
  ScaledRun b(DType::f16, o);
  b.solver->on_iteration([](const IterationRecord& r) { return r.iteration < 12; });
  ASSERT_EQ(b.solver->run(), SolverStatus::stopped_by_callback);
  ScaledRun c(DType::f16, o);
  c.solver->resume(o.run_dir);
  EXPECT_EQ(c.solver->state().iteration, 10);
  ASSERT_EQ(c.solver->run(), SolverStatus::finished);
  expect_same_weights(*a.net, *c.net);
  EXPECT_EQ(c.solver->state().loss_scale.scale, a.solver->state().loss_scale.scale);
  EXPECT_EQ(c.solver->state().skipped_steps, a.solver->state().skipped_steps);

  ScaledRun unscaled(DType::f16, options(false));  // a checkpoint of the other kind is refused
  EXPECT_MINIDL_ERROR(unscaled.solver->resume(o.run_dir), "dynamic loss scaling");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace minidl
