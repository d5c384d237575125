// Dynamic loss scaling on the device (f16, docs/precision.md): the scale and its growth count live
// in device memory, so a step neither waits for the host nor needs it to know the last outcome, and
// a CUDA graph replays it (launch arguments are frozen at capture; these read memory).
//
//   state: f64 [2] on the device: {scale S, growth_tracker (applied steps since S last changed)}
//   loss_scale_apply(x, state)           x *= S                   (the loss gradient, before backward)
//   loss_scale_prepare(state, live)      live.grad_scale = 1 / S  (the SGD step's unscaling,
//                                                                  SgdLiveScalars, kernels/sgd.h)
//   loss_scale_update(state, flag, k)    after the step: flag set (a non-finite gradient, the step
//                                        skipped): S /= 2, tracker = 0; else tracker += 1, and at
//                                        k: S *= 2, tracker = 0 (PyTorch's GradScaler; the host's
//                                        LossScale::update runs the same rule on what it reads)
//
// S is a power of two, so x * S and 1 / S are exact in f32 and the host's and device's values
// agree bit for bit.
#pragma once

#include "core/tensor.h"
#include "kernels/sgd.h"

namespace minidl {

// ---- element math (one thread; shared by both twins) ----

MINIDL_HD void loss_scale_update_element(double* state, int32_t skipped, int64_t interval) {
  if (skipped != 0) {
    state[0] *= 0.5;
    state[1] = 0;
  } else if ((state[1] += 1) >= static_cast<double>(interval)) {
    state[0] *= 2.0;
    state[1] = 0;
  }
}

MINIDL_HD void loss_scale_prepare_element(const double* state, SgdLiveScalars* live) {
  live->grad_scale = static_cast<float>(1.0 / state[0]);
}

// ---- twins ----

namespace cpu {
void loss_scale_apply(const Tensor& x, const Tensor& state, Stream s);
void loss_scale_prepare(const Tensor& state, const Tensor& live, Stream s);
void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval, Stream s);
}  // namespace cpu
namespace cuda {
void loss_scale_apply(const Tensor& x, const Tensor& state, Stream s);
void loss_scale_prepare(const Tensor& state, const Tensor& live, Stream s);
void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval, Stream s);
}  // namespace cuda

// ---- the ops ----

// state: f64 [2]; x: dense f32 on state's device (scaled in place); live: i32 [4] (an
// SgdLiveScalars, SgdPlan::live); flag: i32 [1] (the SGD step's skip flag); interval >= 1.
void loss_scale_apply(const Tensor& x, const Tensor& state);
void loss_scale_prepare(const Tensor& state, const Tensor& live);
void loss_scale_update(const Tensor& state, const Tensor& flag, int64_t interval);

// A new state on `device` holding {scale, growth_tracker}.
Tensor loss_scale_state(double scale, int64_t growth_tracker, Device device);

}  // namespace minidl
