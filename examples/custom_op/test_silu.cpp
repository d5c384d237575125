// The custom op's tests, as minidl's own (DESIGN.md section 3): the element math against PyTorch's
// values, the layer's finite-difference gradient check, the CUDA twin against the CPU twin (skipped
// without a GPU), and the plugin loaded as minidl_train loads it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/plugin.h"
#include "models/registry.h"
#include "silu.h"
#include "silu_layer.h"
#include "testing/gradient_check.h"  // installed with minidl

namespace minidl {
namespace {

using testing::check_gradients;
using testing::random_double;

// torch.nn.functional.silu in float64 and its gradient (PyTorch 1.13):
//   x = torch.tensor([-20., -2., -0.5, 0., 1., 3., 20.], dtype=torch.float64, requires_grad=True)
//   y = F.silu(x); y.sum().backward()
const std::vector<double> kX = {-20, -2, -0.5, 0, 1, 3, 20};
const std::vector<double> kTorchY = {-4.1223072363804073e-08, -0.23840584404423509,
                                     -0.1887703343990727,     0,
                                     0.7310585786300049,      2.8577223804672998,
                                     19.999999958776925};
const std::vector<double> kTorchGrad = {-3.9161918660646786e-08, -0.090784248784895466,
                                        0.26003881269734819,     0.5,
                                        0.92767051187148686,     1.0881041060151693,
                                        1.0000000391619202};

TEST(SiLU, MatchesPyTorch) {
  Tensor x = Tensor::from_vector(kX, {static_cast<int64_t>(kX.size())});
  Tensor y = Tensor::empty(x.shape(), DType::f64), dx = Tensor::empty(x.shape(), DType::f64);
  Tensor ones = Tensor::from_vector(std::vector<double>(kX.size(), 1.0), x.shape());
  silu_forward(x, y);
  silu_backward(x, ones, dx);
  std::vector<double> yv = y.to_vector<double>(), gv = dx.to_vector<double>();
  for (size_t i = 0; i < kX.size(); ++i) {
    EXPECT_NEAR(yv[i], kTorchY[i], 1e-15 * (1 + std::abs(kTorchY[i]))) << "x = " << kX[i];
    EXPECT_NEAR(gv[i], kTorchGrad[i], 1e-15 * (1 + std::abs(kTorchGrad[i]))) << "x = " << kX[i];
  }
  // f32 within a few ulps of the f64 values.
  Tensor xf = x.to(DType::f32), yf = Tensor::empty(x.shape(), DType::f32);
  silu_forward(xf, yf);
  std::vector<float> yfv = yf.to_vector<float>();
  for (size_t i = 0; i < kX.size(); ++i)
    EXPECT_NEAR(yfv[i], kTorchY[i], 4e-7 * (1 + std::abs(kTorchY[i]))) << "x = " << kX[i];
}

TEST(SiLU, GradientCheck) {
  SiLU silu;
  silu.to(DType::f64);
  EXPECT_TRUE(check_gradients(silu, random_double({2, 3, 4, 5}, 7, -4.0, 4.0)));
}

TEST(SiLU, ModelGradientCheck) {
  ModelArgs args;
  args.in_channels = 1, args.image_size = 6, args.num_classes = 3;
  std::shared_ptr<Module> net = make_silu_cnn(args);
  net->to(DType::f64);
  EXPECT_TRUE(check_gradients(*net, random_double({2, 1, 6, 6}, 3)));
}

TEST(SiLU, CudaTwinMatchesCpuTwin) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no GPU (" << cuda_unavailable_reason() << ")";
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = random_double({3, 40, 33, 17}, 1, -30.0, 30.0).to(dt);
    Tensor dy = random_double(x.shape(), 2).to(dt);
    Tensor y = Tensor::empty(x.shape(), dt), dx = Tensor::empty(x.shape(), dt);
    silu_forward(x, y);
    silu_backward(x, dy, dx);
    Device gpu = Device::cuda(0);
    Tensor xg = x.to(gpu), dyg = dy.to(gpu);
    Tensor yg = Tensor::empty(x.shape(), dt, gpu), dxg = Tensor::empty(x.shape(), dt, gpu);
    silu_forward(xg, yg);
    silu_backward(xg, dyg, dxg);
    // Not bit for bit: CUDA's expf and glibc's differ in the last place (both within 2 ulps).
    double tol = dt == DType::f32 ? 1e-6 : 1e-14;
    std::vector<double> a = y.to(DType::f64).to_vector<double>();
    std::vector<double> b = yg.to(Device::cpu()).to(DType::f64).to_vector<double>();
    std::vector<double> c = dx.to(DType::f64).to_vector<double>();
    std::vector<double> d = dxg.to(Device::cpu()).to(DType::f64).to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_NEAR(a[i], b[i], tol * (1 + std::abs(a[i]))) << "forward " << i;
      ASSERT_NEAR(c[i], d[i], tol * (1 + std::abs(c[i]))) << "backward " << i;
    }
  }
}

// The plugin as minidl_train loads it: by path, once, adding silu_cnn to the model registry.
TEST(SiLU, PluginRegistersTheModel) {
  PluginInfo info = load_plugin(SILU_PLUGIN_PATH);
  EXPECT_EQ(info.name, "silu");
  EXPECT_EQ(load_plugin(SILU_PLUGIN_PATH).name, "silu");  // a second load is a no-op
  EXPECT_EQ(loaded_plugins().size(), 1u);
  ModelArgs args;
  args.in_channels = 1, args.image_size = 28, args.num_classes = 10;
  std::shared_ptr<Module> net = make_model("silu_cnn", args);
  Tensor y = net->forward(Tensor::zeros({2, 1, 28, 28}));
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
}

TEST(SiLU, PluginErrorsNameThePath) {
  try {
    load_plugin("/nonexistent/libnothing.so");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/libnothing.so': no such file"),
              std::string::npos)
        << e.what();
  }
  try {
    load_plugin(MINIDL_LIBRARY_PATH);  // a shared library, but not a plugin
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a minidl plugin"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace minidl
