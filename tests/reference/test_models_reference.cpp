// minidl's models against PyTorch: torchvision resnet18/resnet50 eval-mode logits from the same
// weights (loaded through safetensors), in process and through `minidl_train predict` given only
// the weights and the images; and resnet20's training-mode loss, every parameter gradient and the
// BN running statistics after the step, within 1e-4 relative in f32 (and 1e-9 in f64).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/npy.h"
#include "core/safetensors.h"
#include "layers/layers.h"
#include "models/registry.h"
#include "tests/integration/cli_util.h"
#include "tests/reference/reference_util.h"
#include "tests/testing.h"

namespace minidl {
namespace {

// |a - ref| <= 1e-4 * (|ref| + max |ref| of the tensor): relative to the tensor's scale, so entries
// that cancel to near zero do not demand absolute precision f32 cannot give.
::testing::AssertionResult close_rel(const Tensor& a, const Tensor& ref, double tol = 1e-4) {
  std::vector<double> r = ref.to_vector<double>();
  double scale = 0;
  for (double v : r) scale = std::max(scale, std::fabs(v));
  return testing::all_close(a, ref, tol * scale, tol);
}

class ModelsReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!reference::python_has("torch, torchvision, safetensors")) return;
    dir_ = new reference::TempDir("models_ref");
    ok_ = reference::run_script("models_reference.py", dir_->path.string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    MINIDL_SKIP_WITHOUT_TORCH("torch, torchvision, safetensors");
    ASSERT_TRUE(ok_) << "tests/reference/models_reference.py failed";
  }
  static std::string file(const std::string& n) { return dir_->file(n); }
  static reference::TempDir* dir_;
  static bool ok_;
};
reference::TempDir* ModelsReference::dir_ = nullptr;
bool ModelsReference::ok_ = false;

void check_eval_logits(const std::string& name, const std::string& dir_file_prefix) {
  auto net = make_model(name, ModelArgs{3, 64, 1000, {}});
  net->load_state_dict(load_safetensors(dir_file_prefix + ".safetensors"));
  net->eval();
  Tensor logits = net->forward(load_npy(dir_file_prefix + "_x.npy"));
  EXPECT_TRUE(close_rel(logits, load_npy(dir_file_prefix + "_logits.npy"))) << name;
}

TEST_F(ModelsReference, TorchvisionResnet18EvalLogits) {
  check_eval_logits("resnet18", file("resnet18"));
}
TEST_F(ModelsReference, TorchvisionResnet50EvalLogits) {
  check_eval_logits("resnet50", file("resnet50"));
}

// What a user of torchvision's checkpoints does: the weights and an f32 batch, nothing else (no
// dataset, no class count: 1000 comes from the weights' fc).
TEST_F(ModelsReference, PredictGivesTorchvisionResnet50LogitsFromTheWeightsAlone) {
  const std::string prefix = file("resnet50"), out = file("resnet50_predicted.npy");
  cli_test::Result r = cli_test::run("predict --model resnet50 --threads 2 --weights " + prefix +
                                     ".safetensors --input " + prefix + "_x.npy --output " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  Tensor logits = load_npy(out);
  ASSERT_EQ(logits.shape(), (Shape{load_npy(prefix + "_x.npy").size(0), 1000})) << r.output;
  EXPECT_TRUE(close_rel(logits, load_npy(prefix + "_logits.npy")));
  // A classifier of another shape is named, with what was expected.
  r = cli_test::run("predict --model resnet18 --weights " + prefix + ".safetensors --input " +
                    prefix + "_x.npy --output " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(
      r.output.find("'fc.weight' is [1000, 2048], not the resnet18 classifier's [classes, 512]"),
      std::string::npos)
      << r.output;
}

// Training mode: loss, every parameter gradient and the BN running statistics after the forward.
// `tag` f32: within 1e-4 of the tensor's scale (the script keeps every ReLU input away from the
// rounding band around zero, where float32 implementations may legitimately differ); f64: 1e-9.
void check_resnet20_training(const std::string& dir_prefix, DType dtype, double tol) {
  const std::string tag = dtype == DType::f32 ? "f32" : "f64";
  auto net = make_model("resnet20", ModelArgs{3, 32, 10, {}});
  net->load_state_dict(load_safetensors(dir_prefix + ".safetensors"));
  net->to(dtype);
  net->train();
  SoftmaxCrossEntropy loss;
  Tensor logits = net->forward(load_npy(dir_prefix + "_x_" + tag + ".npy"));
  double l = loss.forward(logits, load_npy(dir_prefix + "_labels.npy")).item<double>();
  double ref = load_npy(dir_prefix + "_loss_" + tag + ".npy").item<double>();
  EXPECT_NEAR(l, ref, tol * std::fabs(ref)) << tag;
  net->zero_grad();
  net->backward(loss.backward());
  TensorMap grads = load_safetensors(dir_prefix + "_grads_" + tag + ".safetensors");
  std::vector<Parameter*> params = net->parameters();
  EXPECT_EQ(params.size(), grads.size());
  for (Parameter* p : params) {
    ASSERT_TRUE(grads.count(p->name)) << p->name;
    EXPECT_TRUE(close_rel(p->grad, grads.at(p->name), tol)) << tag << " " << p->name;
  }
  TensorMap after = load_safetensors(dir_prefix + "_after_" + tag + ".safetensors");
  for (auto& [name, t] : net->state_dict())
    if (name.find("running_") != std::string::npos)
      EXPECT_TRUE(close_rel(t, after.at(name), tol)) << tag << " " << name;
}

TEST_F(ModelsReference, Resnet20TrainingLossGradientsAndRunningStatsF32) {
  check_resnet20_training(file("resnet20"), DType::f32, 1e-4);
}

TEST_F(ModelsReference, Resnet20TrainingLossGradientsAndRunningStatsF64) {
  check_resnet20_training(file("resnet20"), DType::f64, 1e-9);
}

}  // namespace
}  // namespace minidl
