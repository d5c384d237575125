// The LR range test's parts: PreciseBN's statistics are the plain batch averages and leave the
// weights and num_batches_tracked alone; the smoothing and the max-LR rule on hand-computed
// curves; repeats combined on their mean curve (a stopped repeat counting as a rise); and a sweep
// whose trajectory is the same with and without PreciseBN, left behind as it was found.
#include <gtest/gtest.h>

#include "core/fill.h"
#include "data/synthetic.h"
#include "layers/layers.h"
#include "optim/precise_bn.h"
#include "optim/range_test.h"
#include "tests/testing.h"

namespace minidl {
namespace {

std::unique_ptr<Loader> synthetic_loader(int64_t n, uint64_t seed, bool shuffle) {
  LoaderOptions lo;
  lo.batch_size = 16;
  lo.seed = 3;
  lo.workers = 0;
  lo.shuffle = shuffle;
  return std::make_unique<Loader>(materialize(SyntheticDataset(n, {1, 8, 8}, 4, seed, "synthetic")),
                                  Transform().normalize({0.5f}, {0.25f}), lo);
}

// A conv net with BN (caffe-style statistics, fraction 0.9 as the paper's) and dropout.
std::shared_ptr<Module> bn_net(uint64_t seed) {
  manual_seed(seed);
  return sequential({std::make_shared<Conv2d>(1, 4, 3, 1, 1),
                     std::make_shared<BatchNorm2d>(4, BatchNormOptions::caffe(0.9)),
                     std::make_shared<ReLU>(), std::make_shared<Flatten>(),
                     std::make_shared<Dropout>(0.2), std::make_shared<Linear>(256, 4)});
}

TEST(PreciseBn, RunningStatisticsAreTheAverageOverTheBatches) {
  auto bn = std::make_shared<BatchNorm2d>(1, BatchNormOptions::pytorch(0.1));
  auto net = sequential({bn});
  net->eval();
  fill(bn->num_batches_tracked()->value, 7.0);
  auto loader = synthetic_loader(64, 5, /*shuffle=*/true);
  // Expected: the mean over the first 3 batches of each batch's mean and unbiased variance.
  double mean = 0, var = 0;
  loader->set_position({0, 0});
  for (int b = 0; b < 3; ++b) {
    Tensor x = loader->next().images.to(DType::f64);
    const int64_t n = x.numel();
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; ++i) s += x.data<double>()[i];
    const double m = s / n;
    for (int64_t i = 0; i < n; ++i) ss += (x.data<double>()[i] - m) * (x.data<double>()[i] - m);
    mean += m / 3, var += ss / (n - 1) / 3;
  }
  Tensor w_before = bn->weight()->value.clone();
  EXPECT_EQ(recompute_batchnorm_statistics(*net, *loader, 3), 1);
  EXPECT_NEAR(bn->running_mean()->value.item<double>(), mean, 1e-5);
  EXPECT_NEAR(bn->running_var()->value.item<double>(), var, 1e-4);
  EXPECT_EQ(bn->num_batches_tracked()->value.item<int64_t>(), 7);  // not training steps
  EXPECT_FALSE(net->training());                                   // the mode is back
  EXPECT_TRUE(testing::all_close(bn->weight()->value, w_before, 0, 0));
  // Ordinary training afterwards uses the layer's own momentum again (0.1, not 1/4).
  net->train();
  const double before = bn->running_mean()->value.item<double>();
  loader->set_position({0, 0});
  Tensor x = loader->next().images;
  net->forward(x);
  double m = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m += x.data<float>()[i];
  m /= static_cast<double>(x.numel());
  EXPECT_NEAR(bn->running_mean()->value.item<double>(), 0.9 * before + 0.1 * m, 1e-5);
}

TEST(PreciseBn, SnapshotAndRestoreUndoItAndTheDropoutStream) {
  auto net = bn_net(2);
  auto loader = synthetic_loader(64, 5, true);
  std::map<std::string, Tensor> before;
  for (auto& [name, t] : net->state_dict()) before[name] = t.clone();
  std::vector<Tensor> saved = snapshot_buffers(*net);
  recompute_batchnorm_statistics(*net, *loader, 2);
  bool changed = false;
  for (auto& [name, t] : net->state_dict())
    changed |= !testing::all_close(t.to(DType::f64), before[name].to(DType::f64), 0, 0);
  EXPECT_TRUE(changed);
  restore_buffers(*net, saved);
  for (auto& [name, t] : net->state_dict())
    EXPECT_TRUE(testing::all_close(t.to(DType::f64), before[name].to(DType::f64), 0, 0)) << name;
}

TEST(RangeTestRule, SmoothCenteredShrinksSymmetricallyAtTheEnds) {
  std::vector<double> v = {1, 2, 3, 10, 5};
  std::vector<double> w3 = smooth_centered(v, 3), w5 = smooth_centered(v, 5);
  std::vector<double> e3 = {1, 2, 5, 6, 5}, e5 = {1, 2, 4.2, 6, 5};
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_DOUBLE_EQ(w3[i], e3[i]) << i;
    EXPECT_DOUBLE_EQ(w5[i], e5[i]) << i;
  }
  EXPECT_EQ(smooth_centered(v, 1), v);
  // A diverged point keeps its value and stays out of its neighbours' averages.
  std::vector<double> d = smooth_centered({1, 2, 3, INFINITY}, 3);
  EXPECT_DOUBLE_EQ(d[1], 2);
  EXPECT_DOUBLE_EQ(d[2], 2.5);
  EXPECT_TRUE(std::isinf(d[3]));
  EXPECT_THROW(smooth_centered(v, 4), Error);
}

TEST(RangeTestRule, MaxLrWhereTheSmoothedLossRisesPastTheMargin) {
  // Minimum 0.5 at lr 2; limit 0.55; crossing between (3, 0.52) and (4, 0.6): 3 + 0.03 / 0.08.
  std::vector<double> lr = {0, 1, 2, 3, 4, 5}, L = {2.0, 1.0, 0.5, 0.52, 0.6, 1.0};
  LrSuggestion s = suggest_from_test_loss(lr, L, 0.1, 1.0);
  EXPECT_NEAR(s.max_lr, 3.375, 1e-12);
  EXPECT_NEAR(s.flat_to, 3.375, 1e-12);
  EXPECT_NEAR(s.min_lr, 0.3375, 1e-12);
  EXPECT_NEAR(s.flat_from, 1.9, 1e-12);  // the falling side: 2 - (0.55 - 0.5) / (1.0 - 0.5)
  EXPECT_NE(s.rule.find("3.375"), std::string::npos) << s.rule;
  // A fraction backs off below the edge; the edge and the scanned band stay where they were.
  LrSuggestion below = suggest_from_test_loss(lr, L, 0.1, 0.6);
  EXPECT_NEAR(below.max_lr, 0.6 * 3.375, 1e-12);
  EXPECT_NEAR(below.min_lr, 0.06 * 3.375, 1e-12);
  EXPECT_NEAR(below.flat_to, 3.375, 1e-12);
  EXPECT_NEAR(below.flat_from, 1.9, 1e-12);
  EXPECT_NE(below.rule.find("0.6 x 3.375"), std::string::npos) << below.rule;
  EXPECT_EQ(RangeTestOptions{}.edge_fraction, 0.6);
  EXPECT_THROW(suggest_from_test_loss(lr, L, 0.1, 0.0), Error);
  EXPECT_THROW(suggest_from_test_loss(lr, L, 0.1, 1.5), Error);
  // A wider margin reaches further up the rising side: limit 0.75, between (4, 0.6) and (5, 1.0).
  EXPECT_NEAR(suggest_from_test_loss(lr, L, 0.5, 1.0).max_lr, 4.375, 1e-12);
  // A lower minimum after a recovered spike does not carry max LR past the spike: the scan starts
  // at 0.48 (within 10% of 0.45, entered at 1 + 0.505 / 0.52) and stops where 0.8 > 1.1 x 0.48.
  LrSuggestion spike = suggest_from_test_loss(
      {0, 1, 2, 3, 4, 5, 6, 7}, {2.0, 1.0, 0.48, 0.5, 0.8, 0.45, 0.46, 1.2}, 0.1, 1.0);
  EXPECT_NEAR(spike.max_lr, 3 + (0.528 - 0.5) / 0.3, 1e-12);
  EXPECT_NEAR(spike.flat_from, 1 + 0.505 / 0.52, 1e-12);
  // Diverged (non-finite) right after the minimum's flat part: the last finite point inside.
  EXPECT_DOUBLE_EQ(
      suggest_from_test_loss(lr, {2.0, 1.0, 0.5, 0.52, INFINITY, NAN}, 0.1, 1.0).max_lr, 3);
  // No suggestion: lowest at the first point, or never rising past the margin.
  LrSuggestion first = suggest_from_test_loss(lr, {0.4, 1.0, 0.5, 0.52, 0.6, 1.0}, 0.1, 1.0);
  EXPECT_TRUE(std::isnan(first.max_lr));
  EXPECT_NE(first.rule.find("first point"), std::string::npos) << first.rule;
  LrSuggestion flat = suggest_from_test_loss(lr, {2.0, 1.0, 0.5, 0.52, 0.53, 0.54}, 0.1, 1.0);
  EXPECT_TRUE(std::isnan(flat.max_lr));
  EXPECT_NE(flat.rule.find("raise --max-lr"), std::string::npos) << flat.rule;
}

RangeTestResult curve(const std::vector<double>& lr, const std::vector<double>& smoothed) {
  RangeTestResult r;
  for (size_t i = 0; i < lr.size(); ++i) {
    RangeTestPoint p;
    p.iteration = static_cast<int64_t>(10 * i);
    p.lr = lr[i];
    p.test_loss = p.smoothed_test_loss = smoothed[i];
    r.points.push_back(p);
    r.points.push_back(RangeTestPoint{});  // an iteration without a test point
  }
  r.suggestion = suggest_from_test_loss(lr, smoothed, 0.1, 1.0);
  return r;
}

TEST(RangeTestRule, RepeatsCombineOnTheirMeanCurve) {
  RangeTestOptions o;
  o.edge_fraction = 1.0;  // the edge itself, as in the test above
  std::vector<double> lr = {0, 1, 2, 3, 4, 5};
  // Mean: {2, 1, 0.5, 0.52, 0.6, 1.0}, the curve of the test above.
  RangeTestReport rep = combine_range_tests(
      {curve(lr, {2.5, 1.2, 0.4, 0.60, 0.5, 1.2}), curve(lr, {1.5, 0.8, 0.6, 0.44, 0.7, 0.8})},
      {1, 2}, o);
  ASSERT_EQ(rep.curve_loss.size(), 6u);
  EXPECT_NEAR(rep.curve_loss[3], 0.52, 1e-12);
  EXPECT_NEAR(rep.suggestion.max_lr, 3.375, 1e-12);
  EXPECT_NE(rep.suggestion.rule.find("mean of 2 repeats"), std::string::npos);
  // A repeat that stopped after 4 test points counts as +inf from there: the mean rises at lr 4.
  rep = combine_range_tests(
      {curve(lr, {2.0, 1.0, 0.5, 0.52, 0.6, 1.0}), curve({0, 1, 2, 3}, {2.0, 1.0, 0.5, 0.52})},
      {1, 2}, o);
  EXPECT_TRUE(std::isinf(rep.curve_loss[4]));
  EXPECT_DOUBLE_EQ(rep.suggestion.max_lr, 3);
  // One repeat: its own suggestion and curve.
  rep = combine_range_tests({curve(lr, {2.0, 1.0, 0.5, 0.52, 0.6, 1.0})}, {4}, o);
  EXPECT_NEAR(rep.suggestion.max_lr, 3.375, 1e-12);
  EXPECT_EQ(rep.curve_lr, lr);
}

RangeTestResult sweep(bool precise_bn, std::map<std::string, Tensor>* after = nullptr) {
  auto net = bn_net(4);
  Sgd opt(*net, SgdOptions{SgdForm::caffe, true, 1e-4});
  SoftmaxCrossEntropy loss;
  auto mom = parse_schedule("0.9", ScheduleRole::momentum);
  auto train = synthetic_loader(96, 11, true), bn = synthetic_loader(96, 11, true),
       test = synthetic_loader(32, 12, false);
  RangeTestOptions o;
  o.max_lr = 1.0;
  o.iterations = 30;
  o.eval_every = 5;
  o.eval_batches = 2;
  o.bn_batches = precise_bn ? 3 : 0;
  o.smooth = 3;
  std::map<std::string, Tensor> before;
  for (auto& [name, t] : net->state_dict()) before[name] = t.clone();
  RangeTestResult r = run_range_test(*net, loss, opt, *mom, *train, test.get(), o, bn.get());
  for (auto& [name, t] : net->state_dict())
    EXPECT_TRUE(testing::all_close(t.to(DType::f64), before[name].to(DType::f64), 0, 0)) << name;
  EXPECT_EQ(train->position(), (LoaderPosition{0, 0}));
  return r;
}

TEST(RangeTest, PreciseBnChangesTheScoresNotTheSweep) {
  RangeTestResult plain = sweep(false), precise = sweep(true);
  ASSERT_EQ(plain.points.size(), precise.points.size());
  bool scores_differ = false;
  int tested = 0;
  for (size_t i = 0; i < plain.points.size(); ++i) {
    EXPECT_EQ(plain.points[i].loss, precise.points[i].loss) << "iteration " << i + 1;
    EXPECT_EQ(std::isnan(plain.points[i].test_loss), std::isnan(precise.points[i].test_loss));
    if (!std::isnan(precise.points[i].test_loss)) {
      ++tested;
      scores_differ |= plain.points[i].test_loss != precise.points[i].test_loss;
      EXPECT_FALSE(std::isnan(precise.points[i].smoothed_test_loss));
    }
  }
  EXPECT_EQ(tested, 7);  // iterations 1, 5, ..., 30
  EXPECT_TRUE(scores_differ);
  EXPECT_FALSE(std::isnan(precise.accuracy_peak_lr));
  EXPECT_FALSE(precise.suggestion.rule.empty());
}

TEST(RangeTest, PreciseBnRefusesTheTrainingLoader) {
  auto net = bn_net(4);
  Sgd opt(*net, SgdOptions{});
  SoftmaxCrossEntropy loss;
  auto mom = parse_schedule("0.9", ScheduleRole::momentum);
  auto train = synthetic_loader(96, 11, true), test = synthetic_loader(32, 12, false);
  RangeTestOptions o;
  o.iterations = 5;
  EXPECT_THROW(run_range_test(*net, loss, opt, *mom, *train, test.get(), o, train.get()), Error);
}

}  // namespace
}  // namespace minidl
