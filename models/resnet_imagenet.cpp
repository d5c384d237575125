// torchvision's ImageNet ResNets with torchvision's module and parameter names, so their weights
// load from PyTorch state dicts (safetensors): conv1 7x7/2, bn1, relu, maxpool 3/2, layer1..layer4,
// avgpool, fc. resnet18/34 use BasicBlocks [2,2,2,2] / [3,4,6,3]; resnet50 Bottlenecks [3,4,6,3]
// with the stride on the 3x3 conv (v1.5). Convs start as torchvision's (Kaiming normal, fan_out),
// BN 1/0. Parameter counts: resnet18 11,689,512, resnet34 21,797,672, resnet50 25,557,032.
#include "models/blocks.h"
#include "models/registry.h"

namespace minidl {

static std::shared_ptr<Module> projection(int64_t in, int64_t out, int64_t stride) {
  auto d = std::make_shared<Sequential>();
  d->add(std::make_shared<Conv2d>(in, out, 1, stride, 0, false));
  d->add(std::make_shared<BatchNorm2d>(out));
  return d;
}

static std::shared_ptr<Module> bottleneck(int64_t in, int64_t planes, int64_t stride) {
  const int64_t out = planes * 4;
  auto block = std::make_shared<Residual>(/*post_relu=*/true);
  block->add("conv1", std::make_shared<Conv2d>(in, planes, 1, 1, 0, false));
  block->add("bn1", std::make_shared<BatchNorm2d>(planes));
  block->add("relu1", std::make_shared<ReLU>());
  block->add("conv2", conv3x3(planes, planes, stride));
  block->add("bn2", std::make_shared<BatchNorm2d>(planes));
  block->add("relu2", std::make_shared<ReLU>());
  block->add("conv3", std::make_shared<Conv2d>(planes, out, 1, 1, 0, false));
  block->add("bn3", std::make_shared<BatchNorm2d>(out));
  if (stride != 1 || in != out) block->shortcut("downsample", projection(in, out, stride));
  return block;
}

std::shared_ptr<Module> make_resnet_imagenet(int depth, const ModelArgs& a) {
  std::vector<int> blocks =
      depth == 18 ? std::vector<int>{2, 2, 2, 2} : std::vector<int>{3, 4, 6, 3};
  bool use_bottleneck = depth >= 50;
  auto net = std::make_shared<Sequential>();
  net->add("conv1", std::make_shared<Conv2d>(a.in_channels, 64, 7, 2, 3, false));
  net->add("bn1", std::make_shared<BatchNorm2d>(64));
  net->add("relu", std::make_shared<ReLU>());
  net->add("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    int64_t planes = 64LL << stage;
    auto layer = std::make_shared<Sequential>();
    for (int b = 0; b < blocks[stage]; ++b) {
      int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      if (use_bottleneck) {
        layer->add(bottleneck(in, planes, stride));
        in = planes * 4;
      } else {
        // torchvision's BasicBlock projects with a 1x1 conv + BN (option B).
        layer->add(basic_block(in, planes, stride, "B"));
        in = planes;
      }
    }
    net->add("layer" + std::to_string(stage + 1), layer);
  }
  add_head(*net, in, a.num_classes);
  init_weights(*net, "msra_fan_out", default_generator());
  return net;
}

}  // namespace minidl
