// The Module API: dotted names, parameter and buffer order, state dicts, modes, devices and
// dtypes, describe(); and the gradient checker itself (it must catch a wrong backward).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "kernels/elementwise.h"
#include "layers/layers.h"
#include "tests/layers/gradient_check.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;

// torchvision's BasicBlock with a projection: conv1, bn1, relu, conv2, bn2, downsample.{0,1}.
std::shared_ptr<Residual> basic_block(int64_t in, int64_t out, int64_t stride) {
  auto block = std::make_shared<Residual>(true);
  block->add("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, false))
      .add("bn1", std::make_shared<BatchNorm2d>(out))
      .add("relu", std::make_shared<ReLU>())
      .add("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, false))
      .add("bn2", std::make_shared<BatchNorm2d>(out));
  if (stride != 1 || in != out)
    block->shortcut("downsample",
                    sequential({std::make_shared<Conv2d>(in, out, 1, stride, 0, false),
                                std::make_shared<BatchNorm2d>(out)}));
  return block;
}

std::shared_ptr<Sequential> tiny_resnet() {
  auto net = std::make_shared<Sequential>();
  auto layer1 = std::make_shared<Sequential>();
  layer1->add(basic_block(4, 4, 1)).add(basic_block(4, 8, 2));
  net->add("conv1", std::make_shared<Conv2d>(3, 4, 3, 1, 1, false))
      .add("bn1", std::make_shared<BatchNorm2d>(4))
      .add("relu", std::make_shared<ReLU>())
      .add("layer1", layer1)
      .add("avgpool", std::make_shared<GlobalAvgPool2d>())
      .add("flatten", std::make_shared<Flatten>())
      .add("fc", std::make_shared<Linear>(8, 10));
  return net;
}

TEST(Module, TorchvisionStyleDottedNames) {
  auto net = tiny_resnet();
  std::vector<std::string> names;
  for (Parameter* p : net->parameters()) names.push_back(p->name);
  std::vector<std::string> expected = {"conv1.weight",
                                       "bn1.weight",
                                       "bn1.bias",
                                       "layer1.0.conv1.weight",
                                       "layer1.0.bn1.weight",
                                       "layer1.0.bn1.bias",
                                       "layer1.0.conv2.weight",
                                       "layer1.0.bn2.weight",
                                       "layer1.0.bn2.bias",
                                       "layer1.1.conv1.weight",
                                       "layer1.1.bn1.weight",
                                       "layer1.1.bn1.bias",
                                       "layer1.1.conv2.weight",
                                       "layer1.1.bn2.weight",
                                       "layer1.1.bn2.bias",
                                       "layer1.1.downsample.0.weight",
                                       "layer1.1.downsample.1.weight",
                                       "layer1.1.downsample.1.bias",
                                       "fc.weight",
                                       "fc.bias"};
  EXPECT_EQ(names, expected);
  std::vector<std::string> buffers;
  for (Buffer* b : net->buffers()) buffers.push_back(b->name);
  EXPECT_EQ(buffers.size(), 6u * 3);
  EXPECT_EQ(buffers[0], "bn1.running_mean");
  EXPECT_EQ(buffers[1], "bn1.running_var");
  EXPECT_EQ(buffers[2], "bn1.num_batches_tracked");
  EXPECT_EQ(buffers.back(), "layer1.1.downsample.1.num_batches_tracked");
  // The same names when asked of a submodule: names belong to the position in the tree.
  EXPECT_EQ(net->submodule("layer1.1.downsample").parameters()[0]->name,
            "layer1.1.downsample.0.weight");
  EXPECT_EQ(net->submodule("layer1.0.bn2").path(), "layer1.0.bn2");
  EXPECT_MINIDL_ERROR(net->submodule("layer1.7"), "no child '7'", "0, 1");
  // Biases and BN parameters are flagged for the optimiser.
  for (Parameter* p : net->parameters())
    EXPECT_EQ(p->is_bias_or_norm, p->name.find("bn") != std::string::npos ||
                                      p->name.find("bias") != std::string::npos ||
                                      p->name.find("downsample.1") != std::string::npos)
        << p->name;
}

TEST(Module, StateDictOrderAndRoundTrip) {
  auto net = tiny_resnet();
  auto named = net->named_tensors();
  ASSERT_GE(named.size(), 5u);
  // Per module: parameters, then buffers (PyTorch's state_dict order).
  EXPECT_EQ(named[0].first, "conv1.weight");
  EXPECT_EQ(named[1].first, "bn1.weight");
  EXPECT_EQ(named[2].first, "bn1.bias");
  EXPECT_EQ(named[3].first, "bn1.running_mean");
  EXPECT_EQ(named[5].first, "bn1.num_batches_tracked");
  EXPECT_EQ(named[5].second.dtype(), DType::i64);
  EXPECT_EQ(named[5].second.dim(), 0);

  manual_seed(5);
  auto other = tiny_resnet();
  EXPECT_FALSE(all_close(other->parameters()[0]->value, net->parameters()[0]->value, 0, 0));
  auto state = net->state_dict();
  other->load_state_dict(state);
  for (auto& [name, t] : other->named_tensors())
    EXPECT_TRUE(all_close(t.to(DType::f64), state.at(name).to(DType::f64), 0, 0)) << name;
}

TEST(Module, LoadStateDictNamesEveryProblem) {
  auto net = tiny_resnet();
  auto state = net->state_dict();
  auto missing = state;
  missing.erase("layer1.0.bn1.running_var");
  EXPECT_MINIDL_ERROR(net->load_state_dict(missing), "missing 'layer1.0.bn1.running_var'");
  auto extra = state;
  extra["fc.extra"] = Tensor::zeros({2});
  EXPECT_MINIDL_ERROR(net->load_state_dict(extra), "unexpected 'fc.extra'");
  net->load_state_dict(extra, /*strict=*/false);
  auto shaped = state;
  shaped["fc.weight"] = Tensor::zeros({10, 9});
  EXPECT_MINIDL_ERROR(net->load_state_dict(shaped), "'fc.weight' has shape [10, 9]", "[10, 8]");
}

TEST(Module, LoadStateDictSaysWhatItConverts) {  // f64/f16 weights from PyTorch, say
  auto net = tiny_resnet();
  auto state = net->state_dict();
  ::testing::internal::CaptureStderr();
  net->load_state_dict(state);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  state["conv1.weight"] = state["conv1.weight"].to(DType::f64);
  state["fc.bias"] = state["fc.bias"].to(DType::f16);
  ::testing::internal::CaptureStderr();
  net->load_state_dict(state);
  std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("converted 2 tensor(s)"), std::string::npos) << warning;
  EXPECT_NE(warning.find("'conv1.weight' f64 -> f32"), std::string::npos) << warning;
}

TEST(Module, LoadStateDictRestoresTheBatchCounter) {
  BatchNorm2d bn(2, BatchNormOptions::caffe(0.9));
  auto state = bn.state_dict();
  state["num_batches_tracked"] = Tensor::full({}, 41.0, DType::i64);
  bn.load_state_dict(state);
  bn.forward(testing::random_tensor({4, 2, 3, 3}, 1));
  EXPECT_EQ(bn.num_batches_tracked()->value.item<int64_t>(), 42);
}

TEST(Module, ModesPropagateAndCountsAreRight) {
  auto net = tiny_resnet();
  net->eval();
  net->visit([](Module& m) { EXPECT_FALSE(m.training()) << m.where(); });
  net->train();
  net->visit([](Module& m) { EXPECT_TRUE(m.training()) << m.where(); });
  int64_t expected = 4 * 3 * 9 + 2 * 4 + (4 * 4 * 9 * 2 + 4 * 4) +
                     (4 * 8 * 9 + 8 * 8 * 9 + 4 * 8 + 8 * 6) + 8 * 10 + 10;
  EXPECT_EQ(net->parameter_count(), expected);
  std::string d = net->describe();
  EXPECT_NE(
      d.find(
          "(conv1): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"),
      std::string::npos)
      << d;
  EXPECT_NE(d.find("(downsample): Sequential("), std::string::npos) << d;
  EXPECT_NE(d.find("parameters: "), std::string::npos) << d;
}

TEST(Module, ZeroGradAndDtypeConversion) {
  auto net = tiny_resnet();
  Tensor x = testing::random_tensor({2, 3, 8, 8}, 3);
  Tensor y = net->forward(x);
  net->backward(testing::random_tensor(y.shape(), 4));
  bool any = false;
  for (Parameter* p : net->parameters())
    any |= !all_close(p->grad, Tensor::zeros(p->grad.shape()), 0, 0);
  EXPECT_TRUE(any);
  net->zero_grad();
  for (Parameter* p : net->parameters())
    EXPECT_TRUE(all_close(p->grad, Tensor::zeros(p->grad.shape()), 0, 0)) << p->name;
  net->to(DType::f64);
  for (Parameter* p : net->parameters()) {
    EXPECT_EQ(p->value.dtype(), DType::f64);
    EXPECT_EQ(p->grad.dtype(), DType::f64);
  }
  for (Buffer* b : net->buffers())
    EXPECT_EQ(b->value.dtype(),
              b->name.find("num_batches") != std::string::npos ? DType::i64 : DType::f64);
  EXPECT_EQ(net->forward(x.to(DType::f64)).dtype(), DType::f64);
  EXPECT_MINIDL_ERROR(net->forward(x), "parameters are f64");
  EXPECT_MINIDL_ERROR(net->to(DType::i32), "f32 or f64");
}

TEST(Module, OutputsNeverOverwriteATensorStillHeld) {
  auto net = tiny_resnet();
  Tensor x1 = testing::random_tensor({2, 3, 8, 8}, 5), x2 = testing::random_tensor({2, 3, 8, 8}, 6);
  Tensor y1 = net->forward(x1);
  Tensor dx1 = net->backward(testing::random_tensor(y1.shape(), 7));
  Tensor h = net->submodule("bn1").forward(net->submodule("conv1").forward(x1));  // a BN output
  Tensor y1_copy = y1.clone(), h_copy = h.clone();
  // A second step must not write into anything the caller still holds.
  Tensor y2 = net->forward(x2);
  net->backward(testing::random_tensor(y2.shape(), 8));
  EXPECT_TRUE(all_close(y1, y1_copy, 0, 0));
  EXPECT_TRUE(all_close(h, h_copy, 0, 0));
  EXPECT_FALSE(all_close(y2, y1_copy, 0, 0));
}

TEST(Module, RegistrationErrors) {
  Sequential s;
  auto relu = std::make_shared<ReLU>();
  s.add("a", relu);
  EXPECT_MINIDL_ERROR(s.add("a", std::make_shared<ReLU>()), "named 'a' exists");
  EXPECT_MINIDL_ERROR(s.add("b", relu), "already has a parent");
  EXPECT_MINIDL_ERROR(s.add("x.y", std::make_shared<ReLU>()), "without dots");
}

// y = 2x with a backward that forgets the factor: the checker must say so.
class WrongDouble : public Module {
 public:
  Tensor forward(const Tensor& x) override {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    scale(2.0, x, y);
    return y;
  }
  Tensor backward(const Tensor& dy) override { return dy.clone(); }
  std::string type_name() const override { return "WrongDouble"; }
};

// The hook data-parallel training starts its gradient all-reduces from: every module reported once,
// after its backward, when its own parameters' gradients are already final.
TEST(Module, BackwardHookReportsEachModuleWithFinalGradients) {
  manual_seed(5);
  auto net = tiny_resnet();
  Tensor x = testing::random_tensor({2, 3, 8, 8}, 7);
  Tensor dy = testing::random_tensor({2, 10}, 8);
  std::map<Parameter*, Tensor> at_report;
  std::vector<std::string> order;
  net->set_backward_hook([&](Module& m) {
    order.push_back(m.path());
    for (Parameter* p : m.own_parameters()) {
      ASSERT_EQ(at_report.count(p), 0u) << p->name << " reported twice";
      at_report[p] = p->grad.clone();
    }
  });
  net->zero_grad();
  net->forward(x);
  net->backward(dy);
  // every parameter reported (the root owns none), with the gradient it ends backward with
  std::vector<Parameter*> params = net->parameters();
  ASSERT_EQ(at_report.size(), params.size());
  for (Parameter* p : params) EXPECT_TRUE(all_close(at_report.at(p), p->grad, 0, 0)) << p->name;
  // children in reverse order, the shortcut before the main path, each container after its own
  ASSERT_GE(order.size(), 4u);
  EXPECT_EQ(order.front(), "fc");
  EXPECT_EQ(order.back(), "conv1");
  auto at = [&](const std::string& path) {
    return std::find(order.begin(), order.end(), path) - order.begin();
  };
  EXPECT_LT(at("layer1.1.downsample"), at("layer1.1.conv2"));
  EXPECT_LT(at("layer1.1.conv1"), at("layer1.1"));
  EXPECT_LT(at("layer1.0"), at("layer1"));
  // cleared: no more calls
  order.clear();
  net->set_backward_hook(nullptr);
  net->forward(x);
  net->backward(dy);
  EXPECT_TRUE(order.empty());
}

TEST(GradientChecker, CatchesAWrongBackwardAndSkipsKinks) {
  WrongDouble wrong;
  auto r = testing::check_gradients(wrong, testing::random_double({3, 4}, 1));
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("disagree"), std::string::npos) << r.message();
  // A ReLU at inputs within the step of its kink: those coordinates are skipped, not failed.
  ReLU relu;
  Tensor x = Tensor::from_vector<double>({0.5, -0.5, 1e-7, -2e-7, 0.25, 0.75, -0.3, 0.9}, {8});
  auto ok = testing::check_gradients(relu, x);
  EXPECT_TRUE(ok) << ok.message();
  EXPECT_NE(std::string(ok.message()).find("6 coordinates checked, 2 skipped"), std::string::npos)
      << ok.message();
}

}  // namespace
}  // namespace minidl
