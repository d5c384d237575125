#include "models/blocks.h"

namespace minidl {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, false);
}

std::string shortcut_option(const std::string& value) {
  MINIDL_CHECK(
      value == "A" || value == "B" || value == "smith", "shortcut option '", value,
      "' is unknown; known: A (zero-pad), B (1x1 conv + BN), smith (2x2 stride-2 conv + BN)");
  return value;
}

std::shared_ptr<Module> basic_block(int64_t in, int64_t out, int64_t stride,
                                    const std::string& shortcut) {
  auto block = std::make_shared<Residual>(/*post_relu=*/true);
  block->add("conv1", conv3x3(in, out, stride));
  block->add("bn1", std::make_shared<BatchNorm2d>(out));
  block->add("relu", std::make_shared<ReLU>());
  block->add("conv2", conv3x3(out, out));
  block->add("bn2", std::make_shared<BatchNorm2d>(out));
  if (stride != 1 || in != out) {
    if (shortcut == "A") {
      // akamaster's PyTorch CIFAR ResNet pads (out - in) / 2 zero channels on each side.
      block->shortcut("downsample",
                      std::make_shared<ZeroPadShortcut>(in, out, stride, (out - in) / 2));
    } else {
      bool smith = shortcut == "smith" && stride == 2;
      auto proj = std::make_shared<Sequential>();
      proj->add(std::make_shared<Conv2d>(in, out, smith ? 2 : 1, stride, 0, false));
      proj->add(std::make_shared<BatchNorm2d>(out));
      block->shortcut("downsample", proj);
    }
  }
  return block;
}

void add_head(Sequential& net, int64_t channels, int64_t num_classes) {
  net.add("avgpool", std::make_shared<GlobalAvgPool2d>());
  net.add("flatten", std::make_shared<Flatten>());
  net.add("fc", std::make_shared<Linear>(channels, num_classes));
}

}  // namespace minidl
