// DenseNet for CIFAR (Huang et al. 2017), the basic form the paper trains: depth 40, growth k = 12,
// no bottleneck, no compression, dropout 0.2. Conv 3x3 16; three dense blocks of (depth - 4) / 3
// layers, each BN-ReLU-conv3x3(k)-dropout concatenated to its input; between blocks a transition
// BN-ReLU-conv1x1-dropout-avgpool 2; then BN-ReLU, global average pool, fc.
#include "models/blocks.h"
#include "models/registry.h"

namespace minidl {

std::shared_ptr<Module> make_densenet(int depth, int growth, const ModelArgs& a) {
  MINIDL_CHECK((depth - 4) % 3 == 0, "DenseNet depth must be 3n + 4, got ", depth);
  growth = static_cast<int>(model_option_int(a, "growth", growth));
  double dropout = model_option_double(a, "dropout", 0.2);
  int layers = (depth - 4) / 3;
  auto net = std::make_shared<Sequential>();
  int64_t ch = 16;
  net->add("conv1", conv3x3(a.in_channels, ch));
  for (int b = 0; b < 3; ++b) {
    auto block = std::make_shared<Sequential>();
    for (int l = 0; l < layers; ++l) {
      auto layer = std::make_shared<ChannelConcat>();
      layer->add("bn", std::make_shared<BatchNorm2d>(ch));
      layer->add("relu", std::make_shared<ReLU>());
      layer->add("conv", conv3x3(ch, growth));
      if (dropout > 0) layer->add("dropout", std::make_shared<Dropout>(dropout));
      block->add(layer);
      ch += growth;
    }
    net->add("dense" + std::to_string(b + 1), block);
    if (b < 2) {
      auto trans = std::make_shared<Sequential>();
      trans->add("bn", std::make_shared<BatchNorm2d>(ch));
      trans->add("relu", std::make_shared<ReLU>());
      trans->add("conv", std::make_shared<Conv2d>(ch, ch, 1, 1, 0, false));
      if (dropout > 0) trans->add("dropout", std::make_shared<Dropout>(dropout));
      trans->add("pool", std::make_shared<AvgPool2d>(2, 2));
      net->add("trans" + std::to_string(b + 1), trans);
    }
  }
  net->add("bn", std::make_shared<BatchNorm2d>(ch));
  net->add("relu", std::make_shared<ReLU>());
  add_head(*net, ch, a.num_classes);
  return net;
}

}  // namespace minidl
