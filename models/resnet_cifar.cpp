// ResNets for CIFAR-size images (He et al. 2016, section 4.2): a 3x3 conv of 16 channels, three
// stages of n BasicBlocks (depth = 6n + 2) at 16, 32 and 64 channels (strides 1, 2, 2), global
// average pool, fc. Parameter counts (CIFAR-10): resnet20 269,722 (option A; 272,474 option B),
// resnet56 853,018, resnet110 1,727,962.
#include "models/blocks.h"
#include "models/registry.h"

namespace minidl {

static std::shared_ptr<Module> resnet_stages(const ModelArgs& a, int blocks,
                                             std::vector<int64_t> widths,
                                             const std::string& shortcut) {
  auto net = std::make_shared<Sequential>();
  net->add("conv1", conv3x3(a.in_channels, 16));
  net->add("bn1", std::make_shared<BatchNorm2d>(16));
  net->add("relu", std::make_shared<ReLU>());
  int64_t in = 16;
  for (size_t stage = 0; stage < widths.size(); ++stage) {
    auto layer = std::make_shared<Sequential>();
    for (int b = 0; b < blocks; ++b) {
      int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->add(basic_block(in, widths[stage], stride, shortcut));
      in = widths[stage];
    }
    net->add("layer" + std::to_string(stage + 1), layer);
  }
  add_head(*net, in, a.num_classes);
  return net;
}

std::shared_ptr<Module> make_resnet_cifar(int depth, const ModelArgs& a) {
  MINIDL_CHECK((depth - 2) % 6 == 0, "CIFAR ResNet depth must be 6n + 2, got ", depth);
  std::string shortcut = shortcut_option(model_option(a, "shortcut", "A"));
  return resnet_stages(a, (depth - 2) / 6, {16, 32, 64}, shortcut);
}

// The paper's "wide32" (PAPER.md: 15 blocks, 16/64/256): ResNet-32's layout, 5 blocks per stage,
// with stage widths 16, 64 and 256, and the paper's 2x2 stride-2 projection shortcuts by default.
std::shared_ptr<Module> make_wide32(const ModelArgs& a) {
  std::string shortcut = shortcut_option(model_option(a, "shortcut", "smith"));
  return resnet_stages(a, 5, {16, 64, 256}, shortcut);
}

}  // namespace minidl
