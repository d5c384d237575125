// Building blocks shared by the model files.
#pragma once

#include <memory>
#include <string>

#include "layers/layers.h"

namespace minidl {

// A post-activation ResNet BasicBlock (He et al.; torchvision's names conv1, bn1, conv2, bn2,
// downsample): relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). When the shape changes the
// shortcut is `shortcut`: "A" zero-pad (option A, no parameters), "B" 1x1 conv + BN (option B,
// torchvision), "smith" 2x2 stride-2 conv + BN (the paper's resnet-56 Caffe files).
std::shared_ptr<Module> basic_block(int64_t in, int64_t out, int64_t stride,
                                    const std::string& shortcut);

// Conv2d without bias followed by nothing: the 3x3 "same" convolution most blocks use.
std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride = 1);

// The classifier head: global average pool, flatten, fully connected.
void add_head(Sequential& net, int64_t channels, int64_t num_classes);

// Checks the options a factory accepts by value ("shortcut" in {A, B, smith}).
std::string shortcut_option(const std::string& value);

}  // namespace minidl
