// Weight initialisation by name, seeded and reproducible: every draw comes from a Philox Generator
// (kernels/random.h), so the same seed gives the same weights on the CPU and on a GPU.
//
//   scheme          conv / linear weights                          biases   (BN: weight 1, bias 0)
//   "msra"          normal, std sqrt(2 / fan_in)  (Caffe's MSRA filler, Kaiming normal)     0
//   "msra_fan_out"  normal, std sqrt(2 / fan_out) (torchvision's ResNet conv init)          0
//   "xavier"        uniform +-sqrt(3 / fan_in)    (Caffe's xavier filler)                   0
//   "pytorch"       uniform +-1/sqrt(fan_in)      (torch 1.13 Conv2d/Linear defaults:       uniform
//                   kaiming_uniform_ with a = sqrt(5): gain sqrt(2 / 6), bound sqrt(3) gain
//                   +-1/sqrt(fan_in) / sqrt(fan_in))
// fan_in = in_channels * kh * kw (Linear: in_features), fan_out = out_channels * kh * kw (Linear:
// out_features), as torch.nn.init computes them. New Conv2d and Linear layers start with "pytorch"
// drawn from default_generator(), like a freshly constructed PyTorch layer.
#pragma once

#include <string>
#include <vector>

#include "core/philox.h"
#include "layers/module.h"

namespace minidl {

struct Fans {
  int64_t fan_in, fan_out;
};
// fan_in / fan_out of a weight [out, in] or [out, in, kh, kw].
Fans compute_fans(const Tensor& weight);

enum class FanMode { fan_in, fan_out };

// In-place fills of a weight (any floating dtype and device; the draws are f32).
void msra_normal_(const Tensor& w, FanMode mode, Generator& gen);  // N(0, 2 / fan)
void xavier_uniform_caffe_(const Tensor& w, Generator& gen);       // U(-sqrt(3/fan_in), +)
void uniform_fill_(const Tensor& t, double lo, double hi, Generator& gen);
void normal_fill_(const Tensor& t, double mean, double std, Generator& gen);  // Caffe "gaussian"
// PyTorch's default Conv2d/Linear init of weight and (if defined) bias.
void pytorch_default_init_(const Tensor& w, const Tensor& bias, Generator& gen);

// A Conv2d/Linear weight (and bias, if defined) with `scheme`: "pytorch" as pytorch_default_init_,
// the others set the bias to 0.
void init_weight_and_bias(const std::string& scheme, const Tensor& w, const Tensor& bias,
                          Generator& gen);

// Initialises every module of `root` (Conv2d, Linear, BatchNorm and any layer overriding
// Module::init_parameters) in parameter order with `scheme`; unknown names throw, listing the
// known.
void init_weights(Module& root, const std::string& scheme, Generator& gen);
void init_weights(Module& root, const std::string& scheme, uint64_t seed);
const std::vector<std::string>& init_scheme_names();
// Throws unless `scheme` is one of init_scheme_names().
void check_init_scheme(const std::string& scheme);

// The generator new layers draw their default weights from (like torch's global generator).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace minidl
