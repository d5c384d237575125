// Schedules: Smith's 1cycle and cyclical momentum against the values his Caffe fork logged, Caffe's
// policies and the other formulas against their definitions, the flag grammar, canonical specs
// and the errors for bad specs. (OneCycleLR and CyclicLR against PyTorch: tests/reference/.)
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "optim/schedule.h"
#include "tests/testing.h"

namespace minidl {
namespace {

std::unique_ptr<Schedule> lr(const std::string& spec) {
  return parse_schedule(spec, ScheduleRole::lr);
}
std::unique_ptr<Schedule> mom(const std::string& spec) {
  return parse_schedule(spec, ScheduleRole::momentum);
}

// Rounds to 6 significant digits, as Caffe's log prints (glog, std::ostream default precision).
std::string six(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// lnsmith54/hyperParam1, Cifar/results/gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1:
// resnet-56, lr_policy "1cycle", base_lr 0.08, max_lr 0.8, stepsize 4003, max_iter 9277; the
// "Iteration N, lr = X" lines (every 200 iterations).
const std::pair<int64_t, const char*> kResnet56Log[] = {
    {0, "0.08"},          {200, "0.115973"},  {400, "0.151946"},   {600, "0.187919"},
    {800, "0.223892"},    {1000, "0.259865"}, {1200, "0.295838"},  {1400, "0.331811"},
    {1600, "0.367784"},   {1800, "0.403757"}, {2000, "0.43973"},   {2200, "0.475703"},
    {2400, "0.511676"},   {2600, "0.547649"}, {2800, "0.583622"},  {3000, "0.619595"},
    {3200, "0.655568"},   {3400, "0.691541"}, {3600, "0.727514"},  {3800, "0.763487"},
    {4000, "0.79946"},    {4200, "0.76063"},  {4400, "0.72066"},   {4600, "0.68069"},
    {4800, "0.640719"},   {5000, "0.600749"}, {5200, "0.560779"},  {5400, "0.520809"},
    {5600, "0.480839"},   {5800, "0.440869"}, {6000, "0.400899"},  {6200, "0.360929"},
    {6400, "0.320959"},   {6600, "0.280989"}, {6800, "0.241019"},  {7000, "0.201049"},
    {7200, "0.161079"},   {7400, "0.121109"}, {7600, "0.0811392"}, {7800, "0.0411692"},
    {8000, "0.00119905"}, {8200, "8e-05"},    {8400, "8e-05"},     {8600, "8e-05"},
    {8800, "8e-05"},      {9000, "8e-05"},    {9200, "8e-05"}};

// lnsmith54/hyperParam1, Cifar/results/wide32cifar_Wide1CycLR.1001CM0.95.85WD1e-4Epoch50BS128a_1:
// wide32, 1cycle base 0.1, max 1, stepsize 2246, max_iter 4882; momentum 0.95, cyclical_momentum
// 0.85 over 2246: "Iteration N, lr = X, momentum = Y".
struct LrMom {
  int64_t it;
  const char* lr;
  const char* momentum;
};
const LrMom kWide32Log[] = {{0, "0.1", "0.95"},
                            {200, "0.180142", "0.941095"},
                            {400, "0.260285", "0.932191"},
                            {600, "0.340427", "0.923286"},
                            {800, "0.42057", "0.914381"},
                            {1000, "0.500712", "0.905476"},
                            {1200, "0.580855", "0.896572"},
                            {1400, "0.660997", "0.887667"},
                            {1600, "0.74114", "0.878762"},
                            {1800, "0.821282", "0.869858"},
                            {2000, "0.901425", "0.860953"},
                            {2200, "0.981567", "0.852048"},
                            {2400, "0.931434", "0.856857"},
                            {2600, "0.842386", "0.865761"},
                            {2800, "0.753339", "0.874666"},
                            {3000, "0.664292", "0.883571"},
                            {3200, "0.575245", "0.892476"},
                            {3400, "0.486198", "0.90138"},
                            {3600, "0.397151", "0.910285"},
                            {3800, "0.308103", "0.91919"},
                            {4000, "0.219056", "0.928094"},
                            {4200, "0.130009", "0.936999"},
                            {4400, "0.0409617", "0.945904"},
                            {4600, "0.0001", "0.947596"},
                            {4800, "0.0001", "0.943143"}};

TEST(SmithOneCycle, ReproducesTheAuthorsLoggedValues) {
  auto s = lr("onecycle-smith:base=0.08,max=0.8,ss=4003");
  EXPECT_EQ(six(s->value(4200)), "0.76063");     // 0.760630
  EXPECT_EQ(six(s->value(8000)), "0.00119905");  // exact arithmetic would print 0.0011991
  for (const auto& [it, logged] : kResnet56Log) EXPECT_EQ(six(s->value(it)), logged) << it;
  auto w = lr("onecycle-smith:base=0.1,max=1,ss=2246");
  for (const LrMom& row : kWide32Log) EXPECT_EQ(six(w->value(row.it)), row.lr) << row.it;
}

TEST(SmithOneCycle, FollowsPaperFormulaWithinSinglePrecisionOfTheRatio) {
  auto s = lr("onecycle-smith:base=0.08,max=0.8,ss=4003");
  for (int64_t it = 0; it < 12000; it += 7) {
    double want = it < 4003   ? 0.08 + (0.8 - 0.08) * it / 4003.0
                  : it < 8006 ? 0.8 * (8006 - it) / 4003.0
                              : 0.08 / 1000;
    EXPECT_NEAR(s->value(it), want, 1e-7) << it;  // the ratio is formed in float (~6e-8)
  }
  EXPECT_DOUBLE_EQ(s->value(0), 0.08);
  EXPECT_DOUBLE_EQ(s->value(4003), 0.8);
}

TEST(SmithCyclicMomentum, ReproducesTheAuthorsLoggedValues) {
  auto m = mom("cyclic-momentum-smith:max=0.95,min=0.85,ss=2246");
  for (const LrMom& row : kWide32Log) EXPECT_EQ(six(m->value(row.it)), row.momentum) << row.it;
}

TEST(SmithCyclicMomentum, FormulaWithHalfAmplitudeDipAfterTwoS) {
  const double hi = 0.95, lo = 0.85;
  const int64_t S = 100;
  auto m = mom("cyclic-momentum-smith:max=0.95,min=0.85,ss=100");
  for (int64_t it = 0; it < 8 * S; ++it) {
    int64_t cycle = it / (2 * S);
    double x = double(it - (2 * cycle + 1) * S) / S;
    double want =
        hi + (lo - hi) * std::min(1.0, std::max(0.0, (1 - std::fabs(x)) / std::pow(2, cycle)));
    EXPECT_NEAR(m->value(it), want, 1e-15) << it;
  }
  EXPECT_NEAR(m->value(S), lo, 1e-15);                                       // full dip at S
  EXPECT_NEAR(m->value(2 * S), hi, 1e-15);                                   // back at 2S
  EXPECT_NEAR(m->value(3 * S), hi + (lo - hi) / 2, 1e-15);                   // half amplitude at 3S
  EXPECT_NEAR(m->value(5 * S), hi + (lo - hi) / 4, 1e-15);                   // a quarter at 5S
  auto up = mom("cyclic-momentum-smith:max=1,min=0.9,ss=100,direction=up");  // Table 1's 0.90-1.00
  EXPECT_NEAR(up->value(0), 0.9, 1e-15);
  EXPECT_NEAR(up->value(S), 1.0, 1e-15);
}

TEST(CaffePolicies, MatchTheirDefinitions) {
  for (int64_t it : {0, 1, 99, 100, 101, 5000, 20000, 20001, 123456}) {
    double t = static_cast<double>(it);
    EXPECT_DOUBLE_EQ(lr("fixed:value=0.01")->value(it), 0.01);
    EXPECT_DOUBLE_EQ(lr("step:base=0.1,gamma=0.94,stepsize=20000")->value(it),
                     0.1 * std::pow(0.94, std::floor(t / 20000)));
    int passed = (it >= 4638) + (it >= 6957) + (it >= 8117) + (it >= 8697);
    EXPECT_DOUBLE_EQ(lr("multistep:base=0.1,gamma=0.316,steps=4638;6957;8117;8697")->value(it),
                     0.1 * std::pow(0.316, passed));
    EXPECT_DOUBLE_EQ(lr("exp:base=0.01,gamma=0.9999")->value(it), 0.01 * std::pow(0.9999, t));
    EXPECT_DOUBLE_EQ(lr("inv:base=0.01,gamma=0.0001,power=0.75")->value(it),
                     0.01 * std::pow(1 + 0.0001 * t, -0.75));
    double poly = it >= 30000 ? 0.0 : 0.01 * std::pow(1 - t / 30000, 0.9);
    EXPECT_DOUBLE_EQ(lr("poly:base=0.01,power=0.9,max_iter=30000")->value(it), poly);
  }
  // multistep counts the step values <= it: the drop happens AT the step value
  auto ms = lr("multistep:base=1,gamma=0.5,steps=10;20");
  EXPECT_EQ(ms->value(9), 1.0);
  EXPECT_EQ(ms->value(10), 0.5);
  EXPECT_EQ(ms->value(20), 0.25);
}

TEST(OtherSchedules, MatchTheirDefinitions) {
  auto cos = lr("cosine:base=1,min=0.1,max_iter=110,warmup=10,warmup_start=0");
  EXPECT_DOUBLE_EQ(cos->value(0), 0.0);
  EXPECT_DOUBLE_EQ(cos->value(5), 0.5);
  EXPECT_DOUBLE_EQ(cos->value(10), 1.0);
  EXPECT_NEAR(cos->value(60), 0.55, 1e-15);  // halfway through the cosine
  EXPECT_DOUBLE_EQ(cos->value(110), 0.1);
  EXPECT_DOUBLE_EQ(cos->value(500), 0.1);

  auto tri = lr("triangular:base=0.1,max=1,ss=10");
  const double tri_want[] = {0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0};
  for (int k = 0; k < 7; ++k) EXPECT_NEAR(tri->value(5 * k), tri_want[k], 1e-15) << 5 * k;
  auto tri2 = lr("triangular2:base=0,max=1,ss=10");
  EXPECT_DOUBLE_EQ(tri2->value(10), 1.0);
  EXPECT_DOUBLE_EQ(tri2->value(30), 0.5);
  EXPECT_DOUBLE_EQ(tri2->value(50), 0.25);
  auto er = lr("exp-range:base=0,max=1,ss=10,gamma=0.99");
  EXPECT_NEAR(er->value(30), std::pow(0.99, 30), 1e-15);
  auto limited = lr("triangular:base=0.1,max=1,ss=10,cycles=1");
  EXPECT_DOUBLE_EQ(limited->value(30), 0.1);
  // Smith's LR range test: triangular with stepsize = max_iter rises linearly from 0 to 3.
  auto range = lr("triangular:base=0,max=3,ss=20000");
  EXPECT_NEAR(range->value(5000), 0.75, 1e-15);

  EXPECT_DOUBLE_EQ(lr("linear-sweep:start=0,end=2,iters=100")->value(25), 0.5);
  EXPECT_DOUBLE_EQ(lr("linear-sweep:start=0,end=2,iters=100")->value(1000), 2.0);
  EXPECT_NEAR(lr("exp-sweep:start=1e-5,end=10,iters=600")->value(300), 1e-5 * std::sqrt(1e6),
              1e-15);
  auto pw = lr("piecewise:points=0:0;100:1;300:0.5");
  EXPECT_DOUBLE_EQ(pw->value(50), 0.5);
  EXPECT_DOUBLE_EQ(pw->value(200), 0.75);
  EXPECT_DOUBLE_EQ(pw->value(1000), 0.5);
  EXPECT_DOUBLE_EQ(mom("0.9")->value(77), 0.9);  // a bare number is a constant
}

TEST(TorchOneCycle, BoundaryValues) {
  // Full agreement with PyTorch at every step is tests/reference/test_optim_reference.cpp.
  auto l = lr("onecycle-torch:max_lr=1,total_steps=100,pct_start=0.3");
  EXPECT_NEAR(l->value(0), 1.0 / 25, 1e-16);
  EXPECT_DOUBLE_EQ(l->value(29), 1.0);
  EXPECT_NEAR(l->value(99), 1.0 / 25 / 1e4, 1e-18);
  EXPECT_EQ(l->value(500), l->value(99));  // holds its last value
  auto m = mom("onecycle-torch-momentum:total_steps=100");
  EXPECT_DOUBLE_EQ(m->value(0), 0.95);
  EXPECT_DOUBLE_EQ(m->value(29), 0.85);
  EXPECT_DOUBLE_EQ(m->value(99), 0.95);
}

TEST(ScheduleSpecs, CanonicalSpecParsesBackToTheSameSchedule) {
  const char* specs[] = {"fixed:value=0.1",
                         "step:base=0.1,gamma=0.94,stepsize=20000",
                         "multistep:base=0.1,gamma=0.316,steps=4638;6957;8117;8697",
                         "exp:base=0.1,gamma=0.999",
                         "inv:base=0.01,gamma=1e-4,power=0.75",
                         "poly:base=0.01,power=2,max_iter=1000",
                         "cosine:base=0.1,max_iter=1000,warmup=50",
                         "triangular:base=0.001,max=0.006,ss=2000",
                         "triangular2:base=0.001,max=0.006,ss=2000",
                         "exp-range:base=0.001,max=0.006,ss=2000,gamma=0.9999",
                         "onecycle-smith:base=0.08,max=0.8,ss=4003",
                         "onecycle-torch:max_lr=0.8,total_steps=9277",
                         "onecycle-torch-momentum:total_steps=9277,three_phase=true",
                         "cyclic-momentum-smith:max=0.95,min=0.85,ss=4003",
                         "linear-sweep:start=0,end=3,iters=20000",
                         "exp-sweep:start=1e-7,end=10,iters=100",
                         "piecewise:points=0:0.1;100:1"};
  EXPECT_EQ(std::size(specs), schedule_names().size());  // every built-in schedule is covered
  for (const char* text : specs) {
    auto a = parse_schedule(text, ScheduleRole::lr);
    auto b = parse_schedule(a->spec(), ScheduleRole::lr);
    EXPECT_EQ(a->spec(), b->spec());
    for (int64_t it = 0; it < 30000; it += 997) EXPECT_EQ(a->value(it), b->value(it)) << text;
  }
  EXPECT_EQ(lr("onecycle-smith: base = 0.08 , max=0.8,ss=4003")->spec(),
            "onecycle-smith:base=0.08,max=0.8,ss=4003");
  EXPECT_EQ(lr("onecycle-torch:max_lr=0.8,total_steps=100")->spec(),
            "onecycle-torch:max_lr=0.8,total_steps=100,pct_start=0.3,anneal_strategy=cos,"
            "div_factor=25,final_div_factor=10000,three_phase=false");
}

TEST(ScheduleSpecs, BadSpecsAreErrorsNamingTheField) {
  EXPECT_MINIDL_ERROR(lr("onecycle:base=0.1"), "lr schedule 'onecycle' is unknown",
                      "onecycle-smith", "multistep", "cyclic-momentum-smith");
  EXPECT_MINIDL_ERROR(lr("step:base=0.1,gamma=0.5,stepsize=10,foo=1"), "key 'foo' is unknown",
                      "base, gamma, stepsize");
  EXPECT_MINIDL_ERROR(lr("step:base=0.1,gamma=0.5"), "key 'stepsize' is missing");
  EXPECT_MINIDL_ERROR(lr("triangular:base=0.9,max=0.8,ss=10"), "key 'base'", "'max'", "0.9");
  EXPECT_MINIDL_ERROR(lr("onecycle-smith:base=1,max=0.8,ss=10"), "key 'base'", "'max'");
  EXPECT_MINIDL_ERROR(mom("cyclic-momentum-smith:max=0.85,min=0.95,ss=10"), "key 'min'", "'max'");
  EXPECT_MINIDL_ERROR(lr("cosine:base=0.1,min=0.2,max_iter=10"), "key 'min'", "'base'");
  EXPECT_MINIDL_ERROR(lr("step:base=0.1,gamma=0.5,stepsize=0"), "key 'stepsize' must be > 0");
  EXPECT_MINIDL_ERROR(lr("onecycle-smith:base=0.08,max=0.8,ss=0"), "key 'ss' must be > 0");
  EXPECT_MINIDL_ERROR(lr("fixed:value=-0.1"), "key 'value' must be >= 0", "learning rate");
  EXPECT_MINIDL_ERROR(lr("onecycle-smith:base=-0.08,max=0.8,ss=4003"), "key 'base' must be >= 0");
  EXPECT_MINIDL_ERROR(lr("piecewise:points=0:0.1;10:-1"), "key 'points' must be >= 0");
  EXPECT_MINIDL_ERROR(mom("fixed:value=1.5"), "momentum schedule 'fixed'", "[0, 1]");
  EXPECT_MINIDL_ERROR(lr("onecycle-smith:base=0.0.8,max=0.8,ss=4003"), "key 'base'",
                      "expects a number", "'0.0.8'");
  EXPECT_MINIDL_ERROR(lr("onecycle-smith:base=0.08,max=0.8,ss=40.5"), "key 'ss'",
                      "expects an integer");
  EXPECT_MINIDL_ERROR(lr("multistep:base=0.1,gamma=0.5,steps=10;5"), "key 'steps'", "increasing");
  EXPECT_MINIDL_ERROR(lr("onecycle-torch:max_lr=1,total_steps=100,anneal_strategy=cosine"),
                      "key 'anneal_strategy'", "cos, linear");
  EXPECT_MINIDL_ERROR(lr("onecycle-torch:max_lr=1,total_steps=10,pct_start=0.1"), "'pct_start'");
  EXPECT_MINIDL_ERROR(lr("onecycle-torch:max_lr=1,total_steps=10,pct_start=1.5"), "'pct_start'");
  EXPECT_MINIDL_ERROR(lr("step:base=0.1,base=0.2"), "key 'base' is given twice");
  EXPECT_MINIDL_ERROR(lr("step:base"), "'base' is not key=value");
  EXPECT_MINIDL_ERROR(lr(":base=1"), "no name");
  EXPECT_MINIDL_ERROR(lr("  "), "empty schedule spec");
}

TEST(ScheduleCsv, WritesIterationLrMomentum) {
  auto l = lr("linear-sweep:start=0,end=1,iters=10");
  auto m = mom("0.9");
  std::ostringstream os;
  write_schedule_csv(os, *l, *m, 10, 4);
  EXPECT_EQ(os.str(), "iteration,lr,momentum\n0,0,0.9\n4,0.4,0.9\n8,0.8,0.9\n9,0.9,0.9\n");
  EXPECT_MINIDL_ERROR(write_schedule_csv(os, *l, *m, 10, 0), "every");
}

}  // namespace
}  // namespace minidl
