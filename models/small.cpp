// The paper's small networks, as the author's Caffe files define them.
#include "core/fill.h"
#include "models/blocks.h"
#include "models/registry.h"

namespace minidl {

// Caffe's examples/mnist/lenet_train_test.prototxt: conv 20 5x5, max pool 2, conv 50 5x5, max pool
// 2, fc 500, ReLU, fc classes. Xavier weights, zero biases, biases at lr_mult 2 (Caffe's files).
std::shared_ptr<Module> make_lenet(const ModelArgs& a) {
  int64_t s = ((a.image_size - 4) / 2 - 4) / 2;  // spatial size after the two conv/pool stages
  MINIDL_CHECK(s >= 1, "lenet needs images of at least 12x12, got ", a.image_size);
  auto net = std::make_shared<Sequential>();
  auto conv1 = std::make_shared<Conv2d>(a.in_channels, 20, 5);
  auto conv2 = std::make_shared<Conv2d>(20, 50, 5);
  auto ip1 = std::make_shared<Linear>(50 * s * s, 500);
  auto ip2 = std::make_shared<Linear>(500, a.num_classes);
  net->add("conv1", conv1);
  net->add("pool1", std::make_shared<MaxPool2d>(2, 2));
  net->add("conv2", conv2);
  net->add("pool2", std::make_shared<MaxPool2d>(2, 2));
  net->add("flatten", std::make_shared<Flatten>());
  net->add("ip1", ip1);
  net->add("relu1", std::make_shared<ReLU>());
  net->add("ip2", ip2);
  init_weights(*net, "xavier", default_generator());
  for (Parameter* p : net->parameters())
    if (p->is_bias_or_norm) p->lr_mult = 2.f;
  return net;
}

// Caffe's examples/cifar10/cifar10_full_train_test.prototxt ("3-layer" in the paper): conv 32 5x5,
// max pool 3/2, ReLU, LRN; conv 32 5x5, ReLU, avg pool 3/2, LRN; conv 64 5x5, ReLU, avg pool 3/2;
// fc classes. Caffe pools in ceil mode; its LRN here is within-channel (3x3, alpha 5e-5, beta
// 0.75). Gaussian fillers (std 1e-4 for conv1, 0.01 after), biases lr_mult 2, the fc weight
// decay_mult 250 and its bias decay_mult 0, as in the file.
std::shared_ptr<Module> make_cifar3(const ModelArgs& a) {
  auto pooled = [](int64_t s) { return pool_output_size(s, 3, 2, 0, /*ceil_mode=*/true); };
  int64_t s = pooled(pooled(pooled(a.image_size)));
  auto net = std::make_shared<Sequential>();
  auto conv1 = std::make_shared<Conv2d>(a.in_channels, 32, 5, 1, 2);
  auto conv2 = std::make_shared<Conv2d>(32, 32, 5, 1, 2);
  auto conv3 = std::make_shared<Conv2d>(32, 64, 5, 1, 2);
  auto ip1 = std::make_shared<Linear>(64 * s * s, a.num_classes);
  net->add("conv1", conv1);
  net->add("pool1", std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("norm1", std::make_shared<LRN>(3, 5e-5, 0.75, 1.0, LrnRegion::within_channel));
  net->add("conv2", conv2);
  net->add("relu2", std::make_shared<ReLU>());
  net->add("pool2", std::make_shared<AvgPool2d>(3, 2, 0, /*ceil_mode=*/true));
  net->add("norm2", std::make_shared<LRN>(3, 5e-5, 0.75, 1.0, LrnRegion::within_channel));
  net->add("conv3", conv3);
  net->add("relu3", std::make_shared<ReLU>());
  net->add("pool3", std::make_shared<AvgPool2d>(3, 2, 0, /*ceil_mode=*/true));
  net->add("flatten", std::make_shared<Flatten>());
  net->add("ip1", ip1);
  Generator& g = default_generator();
  normal_fill_(conv1->weight()->value, 0.0, 1e-4, g);
  for (auto* w : {conv2->weight(), conv3->weight(), ip1->weight()})
    normal_fill_(w->value, 0.0, 0.01, g);
  for (Parameter* p : net->parameters())
    if (p->is_bias_or_norm) {
      fill(p->value, 0.0);
      p->lr_mult = 2.f;
    }
  ip1->weight()->decay_mult = 250.f;
  ip1->bias()->decay_mult = 0.f;
  return net;
}

}  // namespace minidl
