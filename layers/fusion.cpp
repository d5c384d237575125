#include "layers/fusion.h"

#include "layers/batchnorm.h"
#include "layers/containers.h"
#include "layers/relu.h"

namespace minidl {

int fuse_bn_relu(Module& root, bool on) {
  int pairs = 0;
  root.visit([&](Module& m) {
    auto* seq = dynamic_cast<Sequential*>(&m);
    if (!seq) return;
    for (size_t i = 0; i + 1 < seq->size(); ++i) {
      auto* bn = dynamic_cast<BatchNorm2d*>(&(*seq)[i]);
      auto* relu = dynamic_cast<ReLU*>(&(*seq)[i + 1]);
      if (!bn || !relu) continue;
      bn->set_fused_relu(on);
      relu->set_fused(on);
      ++pairs;
    }
  });
  return pairs;
}

}  // namespace minidl
