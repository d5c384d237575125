// Helpers shared by the optimiser tests: parameters built directly (layers are not needed), bit
// snapshots, and the SGD formulas written out in double, one function per form.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "layers/arena.h"
#include "layers/parameter.h"
#include "optim/sgd.h"
#include "tests/testing.h"

namespace minidl::testing {

// A parameter whose value is uniform in [-1, 1) (rounded to `dtype`) with a zero f32 gradient.
inline Parameter make_param(const std::string& name, const Shape& shape, uint32_t seed,
                            DType dtype = DType::f32, Device device = Device::cpu()) {
  Parameter p;
  p.name = name;
  p.value = random_tensor(shape, seed).to(dtype).to(device);
  p.grad = Tensor::zeros(shape, DType::f32, device);
  return p;
}

inline std::vector<Parameter*> pointers(std::vector<Parameter>& params) {
  std::vector<Parameter*> out;
  for (Parameter& p : params) out.push_back(&p);
  return out;
}

// The parameters packed into one arena (their value and grad become views of it): what an
// optimiser steps over. The vector must not reallocate afterwards.
inline std::shared_ptr<ParameterArena> packed(std::vector<Parameter>& params) {
  return ParameterArena::pack(pointers(params));
}

// The raw bytes of a tensor (copied to the CPU), for bit-identity checks.
inline std::vector<uint8_t> bytes_of(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).contiguous();
  std::vector<uint8_t> out(c.nbytes());
  if (!out.empty()) std::memcpy(out.data(), c.data_ptr(), out.size());
  return out;
}

// The bytes of every value and every optimiser state tensor, to check that a step changed nothing.
inline std::vector<std::vector<uint8_t>> snapshot(const std::vector<Parameter>& ps,
                                                  const Sgd& sgd) {
  std::vector<std::vector<uint8_t>> out;
  for (const Parameter& p : ps) out.push_back(bytes_of(p.value));
  for (const auto& [name, t] : sgd.state_dict()) out.push_back(bytes_of(t));
  return out;
}

// One element, in double, straight from the formulas of docs/optim.md.
struct RefConfig {
  SgdForm form = SgdForm::caffe;
  bool nesterov = false;
  bool decoupled = false;
};

inline void ref_update(const RefConfig& c, bool first, double lr, double mu, double wd,
                       double scale, double& w, double& buf, double g) {
  g *= scale;
  double decay = c.decoupled ? lr * wd * w : 0.0;  // decoupled: w -= lr*wd*w, from w before
  double d = c.decoupled ? g : g + wd * w;         // coupled: L2 added to the gradient
  double step;
  if (c.form == SgdForm::caffe) {  // paper Eq. 2-3; Caffe's Nesterov
    double v_new = mu * buf + lr * d;
    step = c.nesterov ? (1 + mu) * v_new - mu * buf : v_new;
    buf = v_new;
  } else {  // torch.optim.SGD, dampening 0
    buf = first ? d : mu * buf + d;
    step = lr * (c.nesterov ? d + mu * buf : buf);
  }
  w = w - decay - step;
}

}  // namespace minidl::testing
