// The fused step over a packed model (resnet20): the bits of sgd_update_element applied tensor by
// tensor with each one's multipliers, state named as before, a real training step that keeps the
// views, and the error when the arena moved or was repacked after the optimiser was built.
#include <gtest/gtest.h>

#include "layers/loss.h"
#include "models/registry.h"
#include "optim/sgd.h"
#include "tests/optim/sgd_test_util.h"

namespace minidl {
namespace {

using testing::bytes_of;
using testing::random_tensor;

std::shared_ptr<Module> resnet20() {
  ModelArgs args;
  args.in_channels = 3, args.image_size = 32, args.num_classes = 10;
  return make_model("resnet20", args);
}

void set_grads(Module& net, uint32_t step) {
  uint32_t i = 0;
  for (Parameter* p : net.parameters())
    p->grad.copy_(random_tensor(p->grad.shape(), 100 * step + i++, -2.f, 2.f));
}

// One parameter's step written out with the element function alone, as the per-tensor optimiser
// applied it: effective lr and decay in f32, then every element in order.
void reference_step(const Parameter& p, std::vector<float>& w, std::vector<float>& m,
                    const SgdStepScalars& s, const SgdOptions& o) {
  const float decay = o.no_decay_bias_and_norm && p.is_bias_or_norm ? 0.f : p.decay_mult;
  const float lr = sgd_mul(s.lr, p.lr_mult), wd = sgd_mul(s.weight_decay, decay);
  std::vector<float> g = p.grad.to_vector<float>();
  for (size_t k = 0; k < w.size(); ++k) sgd_update_element(w[k], m[k], g[k], s, lr, wd);
}

TEST(SgdArena, StepOverAPackedModelGivesTheElementFunctionsBits) {
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch}) {
    SCOPED_TRACE(sgd_form_name(form));
    auto net = resnet20();
    std::vector<Parameter*> ps = net->parameters();
    ps.back()->lr_mult = 2.f;  // fc.bias, Caffe style
    ps[1]->decay_mult = 3.f;   // bn1.weight: decay_mult ignored under the no-decay switch
    SgdOptions o{form, /*nesterov=*/true, /*weight_decay=*/5e-3};
    o.no_decay_bias_and_norm = true;
    std::vector<std::vector<float>> w, m;
    for (Parameter* p : ps) {
      w.push_back(p->value.to_vector<float>());
      m.emplace_back(w.back().size(), 0.f);
    }
    Sgd sgd(*net, o);
    const double lrs[] = {0.1, 0.3, 0.05}, mus[] = {0.9, 0.85, 0.95};
    for (uint32_t step = 0; step < 3; ++step) {
      set_grads(*net, step);
      SgdStepScalars s = sgd.scalars(lrs[step], mus[step], 0.5);
      for (size_t i = 0; i < ps.size(); ++i) reference_step(*ps[i], w[i], m[i], s, o);
      ASSERT_TRUE(sgd.step(lrs[step], mus[step], 0.5));
    }
    std::map<std::string, Tensor> st = sgd.state_dict();
    EXPECT_EQ(st.size(), ps.size() + 1);  // momentum.<name> for each, step
    for (size_t i = 0; i < ps.size(); ++i) {
      const Tensor& mom = st.at("momentum." + ps[i]->name);
      EXPECT_EQ(mom.shape(), ps[i]->value.shape());
      EXPECT_EQ(bytes_of(ps[i]->value), bytes_of(Tensor::from_vector(w[i], mom.shape())))
          << ps[i]->name;
      EXPECT_EQ(bytes_of(mom), bytes_of(Tensor::from_vector(m[i], mom.shape()))) << ps[i]->name;
    }
  }
}

TEST(SgdArena, TrainingStepsKeepTheViews) {
  auto net = resnet20();
  Sgd sgd(*net, {SgdForm::caffe, true, 1e-4});
  std::shared_ptr<ParameterArena> arena = net->arena();
  std::vector<uint8_t> before = bytes_of(arena->groups()[0].values);
  SoftmaxCrossEntropy loss;
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{3, 7}, {2});
  for (uint32_t it = 0; it < 2; ++it) {
    net->zero_grad();
    loss.forward(net->forward(random_tensor({2, 3, 32, 32}, it)), labels);
    net->backward(loss.backward());
    ASSERT_TRUE(sgd.step(0.1, 0.9));
  }
  EXPECT_EQ(net->arena(), arena);  // no layer replaced a handle
  EXPECT_TRUE(arena->holds_exactly(net->parameters()));
  EXPECT_NE(bytes_of(arena->groups()[0].values), before);
}

TEST(SgdArena, MovingOrRepackingTheModelAfterwardsIsAnError) {
  auto net = resnet20();
  Sgd sgd(*net, {});
  net->to(Device::cpu());  // already there: nothing moves, the step runs
  EXPECT_TRUE(sgd.step(0.1, 0.9));
  net->to(DType::f64).to(DType::f32);
  EXPECT_MINIDL_ERROR(sgd.step(0.1, 0.9), "moved or converted", "build the optimiser after to()");
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(sgd.state_dict()), "moved or converted");
  Sgd rebuilt(*net, {});
  EXPECT_TRUE(rebuilt.step(0.1, 0.9));

  Parameter* w = net->parameters()[0];
  w->grad = w->grad.clone();  // against the contract: the next arena() repacks
  net->zero_grad();
  EXPECT_MINIDL_ERROR(rebuilt.step(0.1, 0.9), "repacked", "build the optimiser after to()");
  std::shared_ptr<ParameterArena> fresh = net->arena();
  w->value = w->value.clone();
  EXPECT_MINIDL_ERROR(Sgd(fresh, {}), "stale", "model.arena()");
}

}  // namespace
}  // namespace minidl
