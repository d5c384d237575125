// The fused SGD step on the CPU: every form against its formula in double, lr_mult / decay_mult
// and the no-decay switch, the non-finite skip (bit-identical state), bf16/f16 master weights,
// thread-count independence and argument errors. State save/load: test_sgd_state.cpp; the step
// over a packed model and the arena contract: test_sgd_arena.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "optim/sgd.h"
#include "tests/optim/sgd_test_util.h"

namespace minidl {
namespace {

using testing::bytes_of;
using testing::make_param;
using testing::packed;
using testing::random_tensor;
using testing::ref_update;
using testing::RefConfig;

// Shapes that cross chunk boundaries (kSgdChunk = 8192) and leave odd tails.
const std::vector<Shape> kShapes = {{8193}, {3, 5}, {1}, {20001}, {64}};

const double kLr[] = {0.1, 0.05, 0.3, 0.01, 0.2};
const double kMu[] = {0.9, 0.95, 0.85, 0.9, 0.0};

std::vector<Parameter> make_params(DType dtype = DType::f32) {
  std::vector<Parameter> ps;
  for (size_t i = 0; i < kShapes.size(); ++i)
    ps.push_back(make_param("p" + std::to_string(i), kShapes[i], 100 + i, dtype));
  ps[1].lr_mult = 2.f;  // Caffe's FC bias style: lr_mult 2, decay_mult 0
  ps[1].decay_mult = 0.f;
  ps[2].decay_mult = 250.f;  // the paper's 3-layer FC weight decay_mult
  ps[3].is_bias_or_norm = true;
  return ps;
}

void set_grads(std::vector<Parameter>& ps, uint32_t step) {
  for (size_t i = 0; i < ps.size(); ++i)
    ps[i].grad.copy_(random_tensor(ps[i].value.shape(), 1000 * step + i, -2.f, 2.f));
}

// Runs 5 steps of the optimiser and of the double reference; compares every weight and buffer.
void check_against_reference(SgdOptions opt, double grad_scale) {
  std::vector<Parameter> ps = make_params();
  std::vector<std::vector<double>> w(ps.size()), buf(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    for (float v : ps[i].value.to_vector<float>()) w[i].push_back(v);
    buf[i].assign(w[i].size(), 0.0);
  }
  Sgd sgd(packed(ps), opt);
  RefConfig rc{opt.form, opt.nesterov, opt.decoupled_decay};
  for (int step = 0; step < 5; ++step) {
    set_grads(ps, step);
    ASSERT_TRUE(sgd.step(kLr[step], kMu[step], grad_scale));
    for (size_t i = 0; i < ps.size(); ++i) {
      const Parameter& p = ps[i];
      double lr = kLr[step] * p.lr_mult;
      double wd = opt.weight_decay * p.decay_mult;
      if (opt.no_decay_bias_and_norm && p.is_bias_or_norm) wd = 0;
      std::vector<float> g = p.grad.to_vector<float>();
      for (size_t k = 0; k < g.size(); ++k)
        ref_update(rc, step == 0, lr, kMu[step], wd, grad_scale, w[i][k], buf[i][k], g[k]);
    }
  }
  std::map<std::string, Tensor> state = sgd.state_dict();
  for (size_t i = 0; i < ps.size(); ++i) {
    std::vector<float> ref_w(w[i].begin(), w[i].end()), ref_b(buf[i].begin(), buf[i].end());
    Shape s = ps[i].value.shape();
    EXPECT_TRUE(testing::all_close(ps[i].value, Tensor::from_vector(ref_w, s), 2e-6, 2e-5))
        << ps[i].name << " weights";
    EXPECT_TRUE(testing::all_close(state.at("momentum." + ps[i].name),
                                   Tensor::from_vector(ref_b, s), 2e-6, 2e-5))
        << ps[i].name << " momentum";
  }
  EXPECT_EQ(sgd.steps(), 5);
}

TEST(Sgd, EveryFormMatchesItsFormulaInDouble) {
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch})
    for (bool nesterov : {false, true})
      for (bool decoupled : {false, true})
        for (bool no_decay_bn : {false, true}) {
          SCOPED_TRACE(std::string(sgd_form_name(form)) + (nesterov ? " nesterov" : " classic") +
                       (decoupled ? " decoupled" : " coupled") +
                       (no_decay_bn ? " no-bn-decay" : ""));
          SgdOptions opt;
          opt.form = form;
          opt.nesterov = nesterov;
          opt.weight_decay = 0.003;
          opt.decoupled_decay = decoupled;
          opt.no_decay_bias_and_norm = no_decay_bn;
          check_against_reference(opt, /*grad_scale=*/0.25);
        }
}

TEST(Sgd, CaffeStepIsThePapersEquation) {
  // One element by hand: v = mu v + lr (g + wd w); w = w - v, twice.
  Parameter p = make_param("w", {1}, 1);
  p.value.copy_(Tensor::from_vector(std::vector<float>{2.f}, {1}));
  Sgd sgd(ParameterArena::pack({&p}), {SgdForm::caffe, false, 0.5});
  p.grad.copy_(Tensor::from_vector(std::vector<float>{1.f}, {1}));
  sgd.step(0.25, 0.5);  // v = 0.25 * (1 + 0.5*2) = 0.5; w = 1.5
  EXPECT_FLOAT_EQ(p.value.item<float>(), 1.5f);
  sgd.step(0.5, 0.5);  // v = 0.5*0.5 + 0.5*(1 + 0.75) = 1.125; w = 0.375
  EXPECT_FLOAT_EQ(p.value.item<float>(), 0.375f);
}

TEST(Sgd, LrMultDecayMultAndTheNoDecaySwitch) {
  // Zero gradients: with the caffe form and classic momentum only the decay moves a weight, by
  // lr*lr_mult*wd*decay_mult*w in the first step.
  auto run = [](float lr_mult, float decay_mult, bool bn, bool switch_on) {
    Parameter p = make_param("w", {7}, 3);
    p.lr_mult = lr_mult;
    p.decay_mult = decay_mult;
    p.is_bias_or_norm = bn;
    std::vector<float> before = p.value.to_vector<float>();
    SgdOptions opt{SgdForm::caffe, false, 0.01};
    opt.no_decay_bias_and_norm = switch_on;
    Sgd sgd(ParameterArena::pack({&p}), opt);
    sgd.step(0.5, 0.9);
    std::vector<float> after = p.value.to_vector<float>();
    return std::make_pair(before, after);
  };
  auto [b1, a1] = run(2.f, 3.f, false, true);
  for (size_t i = 0; i < b1.size(); ++i)
    EXPECT_NEAR(a1[i], b1[i] - 0.5 * 2 * 0.01 * 3 * b1[i], 1e-6);
  auto [b2, a2] = run(1.f, 1.f, true, true);  // bias/BN with the switch: untouched
  EXPECT_EQ(a2, b2);
  auto [b3, a3] = run(1.f, 1.f, true, false);  // bias/BN without the switch: decayed
  for (size_t i = 0; i < b3.size(); ++i) EXPECT_NEAR(a3[i], b3[i] * (1 - 0.5 * 0.01), 1e-6);
  auto [b4, a4] = run(0.f, 1.f, false, false);  // lr_mult 0 freezes the parameter
  EXPECT_EQ(a4, b4);
}

TEST(Sgd, NonFiniteGradientSkipsTheWholeStepBitIdentically) {
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch}) {
    std::vector<Parameter> ps = make_params(DType::bf16);
    ps.push_back(make_param("f32_param", {9000}, 7));
    Sgd sgd(packed(ps), {form, true, 1e-3});
    for (uint32_t s = 0; s < 2; ++s) {
      set_grads(ps, s);
      ASSERT_TRUE(sgd.step(0.1, 0.9));
    }
    for (float bad : bad_values) {
      set_grads(ps, 7);
      std::vector<float> g = ps.back().grad.to_vector<float>();
      g[8999] = bad;  // the very last element of the last chunk of the last tensor
      ps.back().grad.copy_(Tensor::from_vector(g, {9000}));
      // every value, momentum buffer, master copy and the step count are unchanged
      std::vector<std::vector<uint8_t>> before = testing::snapshot(ps, sgd);
      EXPECT_FALSE(sgd.step(0.1, 0.9));
      EXPECT_EQ(testing::snapshot(ps, sgd), before);
    }
    EXPECT_EQ(sgd.steps(), 2);  // the 3 skipped steps are not counted
    set_grads(ps, 8);           // a finite gradient: the next step applies again
    std::vector<uint8_t> before = bytes_of(ps[0].value);
    EXPECT_TRUE(sgd.step(0.1, 0.9));
    EXPECT_NE(bytes_of(ps[0].value), before);
    EXPECT_EQ(sgd.steps(), 3);
  }
}

TEST(Sgd, TorchFirstStepSurvivesASkippedStep) {
  // PyTorch starts the buffer as the first applied gradient; a skipped step must not count.
  Parameter a = make_param("w", {5}, 9), b = make_param("w", {5}, 9);
  Sgd sa(ParameterArena::pack({&a}), {SgdForm::torch}),
      sb(ParameterArena::pack({&b}), {SgdForm::torch});
  a.grad.copy_(Tensor::full({5}, std::nan("")));
  EXPECT_FALSE(sa.step(0.1, 0.9));
  Tensor g = random_tensor({5}, 4);
  a.grad.copy_(g);
  b.grad.copy_(g);
  EXPECT_TRUE(sa.step(0.1, 0.9));
  EXPECT_TRUE(sb.step(0.1, 0.9));
  EXPECT_EQ(bytes_of(a.value), bytes_of(b.value));
  EXPECT_EQ(bytes_of(sa.state_dict().at("momentum.w")), bytes_of(g));  // b = g on the first step
}

TEST(Sgd, LowPrecisionValuesKeepF32MasterWeights) {
  for (DType dtype : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dtype));
    // The same start in f32 and in low precision: the f32 run is the master's exact twin.
    std::vector<Parameter> low = make_params(dtype), full = make_params(dtype);
    for (Parameter& p : full) p.value = p.value.to(DType::f32);
    SgdOptions opt{SgdForm::caffe, true, 1e-3};
    Sgd s_low(packed(low), opt), s_full(packed(full), opt);
    for (int step = 0; step < 5; ++step) {
      set_grads(low, step);
      set_grads(full, step);
      ASSERT_TRUE(s_low.step(kLr[step], kMu[step]));
      ASSERT_TRUE(s_full.step(kLr[step], kMu[step]));
    }
    std::map<std::string, Tensor> st = s_low.state_dict();
    for (size_t i = 0; i < low.size(); ++i) {
      const Tensor& master = st.at("master." + low[i].name);
      EXPECT_EQ(master.dtype(), DType::f32);
      EXPECT_EQ(bytes_of(master), bytes_of(full[i].value)) << low[i].name;
      EXPECT_EQ(bytes_of(st.at("momentum." + low[i].name)),
                bytes_of(s_full.state_dict().at("momentum." + full[i].name)));
      // the value is the master rounded to nearest even, element by element
      std::vector<float> m = master.to_vector<float>();
      Tensor v = low[i].value;
      for (size_t k = 0; k < m.size(); ++k) {
        uint16_t bits = dtype == DType::bf16 ? v.data<bf16>()[k].bits : v.data<f16>()[k].bits;
        uint16_t want = dtype == DType::bf16 ? f32_to_bf16_bits(m[k]) : f32_to_f16_bits(m[k]);
        ASSERT_EQ(bits, want) << low[i].name << "[" << k << "]";
      }
    }
    EXPECT_EQ(st.count("master.p0"), 1u);
    EXPECT_EQ(s_full.state_dict().count("master.p0"), 0u);  // f32 values have no master
  }
}

TEST(Sgd, ResultsDoNotDependOnTheThreadCount) {
  auto run = [](int threads) {
    int saved = num_threads();
    set_num_threads(threads);
    std::vector<Parameter> ps = make_params();
    Sgd sgd(packed(ps), {SgdForm::torch, true, 1e-3});
    for (int step = 0; step < 3; ++step) {
      set_grads(ps, step);
      sgd.step(kLr[step], kMu[step]);
    }
    set_num_threads(saved);
    std::vector<std::vector<uint8_t>> out;
    for (const Parameter& p : ps) out.push_back(bytes_of(p.value));
    return out;
  };
  EXPECT_EQ(run(1), run(3));
}

TEST(Sgd, ArgumentErrorsNameTheParameter) {
  Parameter a = make_param("a", {4}, 1), b = make_param("a", {4}, 2);
  EXPECT_MINIDL_ERROR(Sgd(ParameterArena::pack({&a, &b}), {}), "two parameters are named 'a'");
  Parameter c = make_param("c", {4}, 1);
  c.grad = Tensor::zeros({5});
  EXPECT_MINIDL_ERROR(Sgd(ParameterArena::pack({&c}), {}), "'c'", "[5]", "[4]");
  Parameter d = make_param("d", {4}, 1);
  d.grad = Tensor();
  EXPECT_MINIDL_ERROR(Sgd(ParameterArena::pack({&d}), {}), "'d'", "no gradient");
  Parameter e = make_param("e", {4}, 1);
  e.value = e.value.to(DType::i32);
  EXPECT_MINIDL_ERROR(Sgd(ParameterArena::pack({&e}), {}), "'e'", "i32");
  Parameter f = make_param("f", {4}, 1);
  EXPECT_MINIDL_ERROR(Sgd(ParameterArena::pack({&f}), {SgdForm::caffe, false, -1.0}),
                      "weight_decay");
  Sgd ok(ParameterArena::pack({&f}), {});
  EXPECT_MINIDL_ERROR(ok.step(-0.1, 0.9), "lr", "-0.1");
  EXPECT_MINIDL_ERROR(ok.step(0.1, std::nan("")), "momentum");
  EXPECT_MINIDL_ERROR(parse_sgd_form("adam"), "adam", "caffe, torch");
  EXPECT_EQ(parse_sgd_form("torch"), SgdForm::torch);
}

// The step that reads its LR, momentum, gradient scale and first-step rule from the plan's memory
// (SgdPlan::live: what a captured CUDA graph replays) gives the bits of the step that takes them as
// arguments, in every form, over bf16 values too, with a skipped step in the middle; and a second
// write before the launch is the one the step uses (the values are read when the step runs).
TEST(Sgd, LiveScalarsGiveTheArgumentsBits) {
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch})
    for (bool nesterov : {false, true})
      for (bool decoupled : {false, true}) {
        SCOPED_TRACE(std::string(sgd_form_name(form)) + (nesterov ? " nesterov" : "") +
                     (decoupled ? " decoupled" : ""));
        SgdOptions opt{form, nesterov, 2e-3, decoupled, false};
        std::vector<Parameter> pa = make_params(DType::bf16), pl = make_params(DType::bf16);
        Sgd args(packed(pa), opt), live(packed(pl), opt);
        for (int step = 0; step < 4; ++step) {
          for (size_t i = 0; i < pa.size(); ++i) {
            Tensor g = random_tensor(pa[i].value.shape(), 700 + 13 * step + i, -2.f, 2.f);
            if (step == 1 && i == 3) g.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
            pa[i].grad.copy_(g);
            pl[i].grad.copy_(g);
          }
          sgd_fused_step(args.plan(), args.scalars(kLr[step], kMu[step], 0.5));
          const bool applied = args.plan().flag.item<int32_t>() == 0;
          args.record_outcome(applied);
          EXPECT_EQ(applied, step != 1);
          live.write_live_scalars(9.0, 0.1, 3.0);  // overwritten before the launch
          live.write_live_scalars(kLr[step], kMu[step], 0.5);
          live.launch_live_step();
          live.record_outcome(live.skip_flag().item<int32_t>() == 0);
        }
        EXPECT_EQ(args.steps(), 3);
        EXPECT_EQ(live.steps(), 3);
        for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(bytes_of(pa[i].value), bytes_of(pl[i].value));
        for (const auto& [name, t] : args.state_dict())
          EXPECT_EQ(bytes_of(t), bytes_of(live.state_dict().at(name))) << name;
      }
}

}  // namespace
}  // namespace minidl
