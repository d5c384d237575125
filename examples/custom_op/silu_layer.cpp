#include "silu_layer.h"

#include "core/fill.h"
#include "kernels/image_layout.h"
#include "layers/layers.h"
#include "silu.h"

namespace minidl {

Tensor SiLU::forward(const Tensor& x) {
  check_input(x);
  Tensor xin = match_layout(x, x);
  Tensor y = empty_like_layout(xin.shape(), xin);
  silu_forward(xin, y);
  x_ = training() ? xin : Tensor();
  return y;
}

Tensor SiLU::backward(const Tensor& dy) {
  check_cached(x_);
  Tensor x = x_;
  x_ = Tensor();
  Tensor d = match_layout(dy, x);
  Tensor dx = empty_like_layout(x.shape(), x);
  silu_backward(x, d, dx);
  return dx;
}

std::shared_ptr<Module> make_silu_cnn(const ModelArgs& a) {
  auto net = std::make_shared<Sequential>();
  net->add("conv1", std::make_shared<Conv2d>(a.in_channels, 32, 3, 1, 1, /*bias=*/false));
  net->add("bn1", std::make_shared<BatchNorm2d>(32));
  net->add("silu1", std::make_shared<SiLU>());
  net->add("pool1", std::make_shared<MaxPool2d>(2, 2));
  net->add("conv2", std::make_shared<Conv2d>(32, 64, 3, 1, 1, /*bias=*/false));
  net->add("bn2", std::make_shared<BatchNorm2d>(64));
  net->add("silu2", std::make_shared<SiLU>());
  net->add("pool2", std::make_shared<GlobalAvgPool2d>());
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(64, a.num_classes));
  init_weights(*net, "msra", default_generator());
  return net;
}

}  // namespace minidl
