// Layer fusion over a built module tree: one pass that rewires adjacent layers so that one kernel
// does the work of two, with results equal to the unfused ones (PyTorch users know the idea from
// torch.ao.quantization.fuse_modules and cuDNN's BN+activation ops).
//
//   fuse_bn_relu(*net);   // every BatchNorm2d directly followed by a ReLU in a Sequential
//
// The pair keeps its names and parameters (state dicts and checkpoints are unchanged): the
// BatchNorm2d applies the ReLU itself (set_fused_relu) and the ReLU passes its tensor through
// (set_fused). make_model() calls it unless ModelArgs::fuse is false. The residual add + ReLU is
// fused by Residual itself (kernels/add_relu.h).
#pragma once

#include "layers/module.h"

namespace minidl {

// Fuses every BatchNorm2d -> ReLU pair that are neighbours in a Sequential (Residual and
// ChannelConcat branches included); returns how many. An in-place ReLU fuses too (the fused layer
// writes one output, which is what the in-place ReLU made of it). on = false undoes it.
int fuse_bn_relu(Module& root, bool on = true);

}  // namespace minidl
