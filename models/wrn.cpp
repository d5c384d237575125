// Wide ResNets (Zagoruyko & Komodakis 2016), pre-activation: conv 3x3 16, three groups of
// n = (depth - 4) / 6 blocks at 16k, 32k and 64k channels (strides 1, 2, 2), BN-ReLU, global
// average pool, fc. A block is BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus a shortcut: identity
// when the shape stays, else a 1x1 conv applied to the block's pre-activated input (as the authors'
// code). Parameter counts (CIFAR-10): wrn16_8 10,961,370, wrn28_10 36,479,194, wrn40_4 8,949,210.
#include "models/blocks.h"
#include "models/registry.h"

namespace minidl {

static std::shared_ptr<Module> wrn_block(int64_t in, int64_t out, int64_t stride, double dropout) {
  auto residual = std::make_shared<Residual>(/*post_relu=*/false);
  bool same = in == out && stride == 1;
  if (same) {  // pre-activation inside the residual branch, identity shortcut on x
    residual->add("bn1", std::make_shared<BatchNorm2d>(in));
    residual->add("relu1", std::make_shared<ReLU>());
  }
  residual->add("conv1", conv3x3(in, out, stride));
  residual->add("bn2", std::make_shared<BatchNorm2d>(out));
  residual->add("relu2", std::make_shared<ReLU>());
  if (dropout > 0) residual->add("dropout", std::make_shared<Dropout>(dropout));
  residual->add("conv2", conv3x3(out, out));
  if (same) return residual;
  // Shape changes: pre-activate once, feed both the branch and the 1x1 projection.
  residual->shortcut("shortcut", std::make_shared<Conv2d>(in, out, 1, stride, 0, false));
  auto block = std::make_shared<Sequential>();
  block->add("bn1", std::make_shared<BatchNorm2d>(in));
  block->add("relu1", std::make_shared<ReLU>());
  block->add("residual", residual);
  return block;
}

std::shared_ptr<Module> make_wrn(int depth, int widen, const ModelArgs& a) {
  MINIDL_CHECK((depth - 4) % 6 == 0, "Wide ResNet depth must be 6n + 4, got ", depth);
  int n = (depth - 4) / 6;
  double dropout = model_option_double(a, "dropout", 0.0);
  MINIDL_CHECK(dropout >= 0 && dropout < 1, "wrn dropout must be in [0, 1), got ", dropout);
  auto net = std::make_shared<Sequential>();
  net->add("conv1", conv3x3(a.in_channels, 16));
  int64_t in = 16;
  const int64_t widths[3] = {16LL * widen, 32LL * widen, 64LL * widen};
  for (int g = 0; g < 3; ++g) {
    auto group = std::make_shared<Sequential>();
    for (int b = 0; b < n; ++b) {
      group->add(wrn_block(in, widths[g], (g > 0 && b == 0) ? 2 : 1, dropout));
      in = widths[g];
    }
    net->add("block" + std::to_string(g + 1), group);
  }
  net->add("bn", std::make_shared<BatchNorm2d>(in));
  net->add("relu", std::make_shared<ReLU>());
  add_head(*net, in, a.num_classes);
  return net;
}

}  // namespace minidl
