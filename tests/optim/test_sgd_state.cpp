// Optimiser state by parameter name: names, round trip (a resumed run continues bit-identically),
// and load errors that name the missing, extra, mis-shaped or mis-typed entry.
#include <gtest/gtest.h>

#include "optim/sgd.h"
#include "tests/optim/sgd_test_util.h"

namespace minidl {
namespace {

using testing::bytes_of;
using testing::make_param;
using testing::packed;
using testing::random_tensor;

std::vector<Parameter> two_params() {
  std::vector<Parameter> ps;
  ps.push_back(make_param("conv1.weight", {4, 3, 3, 3}, 1, DType::bf16));
  ps.push_back(make_param("fc.bias", {10}, 2));
  return ps;
}

void train(Sgd& sgd, std::vector<Parameter>& ps, int first, int last) {
  for (int step = first; step < last; ++step) {
    for (size_t i = 0; i < ps.size(); ++i)
      ps[i].grad.copy_(random_tensor(ps[i].value.shape(), 50 * step + i));
    sgd.step(0.1 + 0.01 * step, 0.9);
  }
}

TEST(SgdState, NamesShapesAndCounters) {
  std::vector<Parameter> ps = two_params();
  Sgd sgd(packed(ps), {SgdForm::torch, true, 1e-4});
  train(sgd, ps, 0, 2);
  std::map<std::string, Tensor> st = sgd.state_dict();
  std::vector<std::string> names;
  for (const auto& [name, t] : st) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"master.conv1.weight", "momentum.conv1.weight",
                                             "momentum.fc.bias", "step"}));
  EXPECT_EQ(st.at("momentum.conv1.weight").shape(), (Shape{4, 3, 3, 3}));
  EXPECT_EQ(st.at("step").item<int64_t>(), 2);
  EXPECT_EQ(st.at("step").dtype(), DType::i64);
}

TEST(SgdState, ResumedRunContinuesBitIdentically) {
  for (SgdForm form : {SgdForm::caffe, SgdForm::torch}) {
    std::vector<Parameter> a = two_params();
    Sgd sa(packed(a), {form, true, 1e-4});
    train(sa, a, 0, 2);
    // Checkpoint: the weights as saved (bf16 values as they are) and the optimiser state.
    std::map<std::string, Tensor> saved;
    for (const auto& [name, t] : sa.state_dict()) saved[name] = t.clone();
    std::vector<Parameter> b = two_params();  // a fresh model with other weights
    for (size_t i = 0; i < b.size(); ++i) b[i].value.copy_(a[i].value);
    Sgd sb(packed(b), {form, true, 1e-4});
    sb.load_state_dict(saved);
    EXPECT_EQ(sb.steps(), 2);
    train(sa, a, 2, 5);
    train(sb, b, 2, 5);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(bytes_of(a[i].value), bytes_of(b[i].value));
    for (const auto& [name, t] : sa.state_dict())
      EXPECT_EQ(bytes_of(t), bytes_of(sb.state_dict().at(name))) << name;
  }
}

TEST(SgdState, LoadedMasterIsWrittenToTheValue) {
  std::vector<Parameter> ps = two_params();
  Sgd sgd(packed(ps), {});
  std::map<std::string, Tensor> st;
  for (const auto& [name, t] : sgd.state_dict()) st[name] = t.clone();
  st["master.conv1.weight"] = Tensor::full({4, 3, 3, 3}, 0.3);
  sgd.load_state_dict(st);
  EXPECT_EQ(ps[0].value.to_vector<float>()[0], bf16_bits_to_f32(f32_to_bf16_bits(0.3f)));
}

TEST(SgdState, LoadErrorsNameTheEntryAndChangeNothing) {
  std::vector<Parameter> ps = two_params();
  Sgd sgd(packed(ps), {});
  train(sgd, ps, 0, 1);
  auto good = [&] {
    std::map<std::string, Tensor> st;
    for (const auto& [name, t] : sgd.state_dict()) st[name] = t.clone();
    return st;
  };
  std::vector<uint8_t> momentum_before = bytes_of(sgd.state_dict().at("momentum.fc.bias"));

  auto missing = good();
  missing.erase("momentum.fc.bias");
  missing["momentum.conv1.weight"] = Tensor::zeros({4, 3, 3, 3});
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(missing), "missing entry 'momentum.fc.bias'");

  auto extra = good();
  extra["momentum.fc.weight"] = Tensor::zeros({10});
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(extra), "unexpected entry 'momentum.fc.weight'");

  auto f32_master = good();
  f32_master["master.fc.bias"] = Tensor::zeros({10});
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(f32_master), "unexpected entry 'master.fc.bias'");

  auto shape = good();
  shape["momentum.fc.bias"] = Tensor::zeros({11});
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(shape), "'momentum.fc.bias'", "[11]", "[10]");

  auto dtype = good();
  dtype["momentum.fc.bias"] = Tensor::zeros({10}, DType::bf16);
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(dtype), "'momentum.fc.bias'", "bf16", "f32");

  auto counter = good();
  counter["step"] = Tensor::zeros({1});
  EXPECT_MINIDL_ERROR(sgd.load_state_dict(counter), "'step'", "i64");

  EXPECT_EQ(bytes_of(sgd.state_dict().at("momentum.fc.bias")), momentum_before);
  EXPECT_EQ(sgd.steps(), 1);
}

}  // namespace
}  // namespace minidl
