// The fused SGD step (kernels/cpu/sgd.cpp) gives the baseline's bits under every wider CPU ISA:
// every form, f32/bf16/f16 values, chunk-crossing sizes with odd tails, a non-finite gradient
// (the step is skipped, whatever the ISA), and a tensor that is not 16-byte aligned.
#include <gtest/gtest.h>

#include <limits>

#include "tests/optim/sgd_test_util.h"

namespace minidl {
namespace {

using testing::random_tensor;
using testing::same_bits_on_every_isa;

std::vector<Parameter> isa_params() {
  const std::vector<Shape> shapes = {{8193}, {3, 5}, {1}, {20001}, {64, 3, 3, 3}, {1000}};
  const DType dtypes[] = {DType::f32, DType::bf16, DType::f16, DType::f32, DType::bf16, DType::f32};
  std::vector<Parameter> ps;
  for (size_t i = 0; i < shapes.size(); ++i)
    ps.push_back(testing::make_param("p" + std::to_string(i), shapes[i], 40 + i, dtypes[i]));
  ps[1].lr_mult = 2.f;
  ps[1].decay_mult = 0.f;
  ps[2].is_bias_or_norm = true;
  return ps;
}

// Three steps of one configuration; every value and state tensor afterwards. `bad_step`: the step
// whose gradient holds an inf (skipped), -1 for none.
std::vector<Tensor> three_steps(const SgdOptions& opt, int bad_step) {
  std::vector<Parameter> ps = isa_params();
  Sgd sgd(testing::packed(ps), opt);
  const double lrs[] = {0.1, 0.4, 0.02}, mus[] = {0.9, 0.85, 0.95};
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < ps.size(); ++i)
      ps[i].grad.copy_(random_tensor(ps[i].value.shape(), 9000 + 31 * step + i, -3.f, 3.f));
    if (step == bad_step) ps[3].grad.data<float>()[20000] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(sgd.step(lrs[step], mus[step], 0.5), step != bad_step);
  }
  std::vector<Tensor> out;
  for (const Parameter& p : ps) out.push_back(p.value.clone());
  for (const auto& [name, t] : sgd.state_dict()) out.push_back(t.clone());
  return out;
}

TEST(SgdIsa, EveryFormGivesTheBaselineBits) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch})
    for (bool nesterov : {false, true})
      for (bool decoupled : {false, true}) {
        SCOPED_TRACE(std::string(sgd_form_name(form)) + (nesterov ? " nesterov" : "") +
                     (decoupled ? " decoupled" : ""));
        SgdOptions opt{form, nesterov, 2e-3, decoupled, true};
        EXPECT_TRUE(same_bits_on_every_isa([&] { return three_steps(opt, -1); }));
      }
}

TEST(SgdIsa, NonFiniteGradientSkipsOnEveryIsa) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  SgdOptions opt{SgdForm::caffe, false, 5e-4, false, false};
  EXPECT_TRUE(same_bits_on_every_isa([&] { return three_steps(opt, 1); }));
}

// A plan built by hand over storage offset by one float: the vector loops' unaligned path.
TEST(SgdIsa, MisalignedTensor) {
  MINIDL_SKIP_WITHOUT_WIDER_ISA();
  EXPECT_TRUE(same_bits_on_every_isa([] {
    Tensor w = random_tensor({10001}, 1), g = random_tensor({10001}, 2, -5.f, 5.f);
    Tensor m = random_tensor({10001}, 3);
    SgdTensor t;
    t.value = w.narrow(0, 1, 10000).data_ptr();
    t.grad = g.narrow(0, 1, 10000).data<float>();
    t.momentum = m.narrow(0, 1, 10000).data<float>();
    t.numel = 10000;
    SgdPlan plan = build_sgd_plan({t}, Device::cpu());
    SgdStepScalars s;
    s.lr = 0.05f, s.momentum = 0.9f, s.weight_decay = 1e-3f;
    sgd_fused_step(plan, s);
    return std::vector<Tensor>{w, m};
  }));
}

}  // namespace
}  // namespace minidl
