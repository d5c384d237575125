// sgd: the fused SGD step over every parameter at once (DESIGN.md §5, PAPER.md Eq. 2-3).
//
// One step = (1) a non-finite check over every gradient, which sets a flag, then (2) the update of
// every element of every parameter, skipped entirely when the flag is set. On CUDA each part is ONE
// launch for the whole parameter set: the parameters are described by a table (SgdTensor per
// tensor, SgdChunk per block of kSgdChunk elements) uploaded once to the device; the CPU twin walks
// the same chunks with parallel_for. The arithmetic of one element lives once, in
// sgd_update_element().
//
// Rounding: every add and multiply of the element math is a separately rounded f32 operation on
// both sides (sgd_mul/sgd_add use __fmul_rn/__fadd_rn on the device, which nvcc never fuses into an
// FMA; the host is built with -ffp-contract=off), so the CPU and CUDA twins give the same bits.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dispatch.h"

namespace minidl {

// ---- element math ----

// caffe: the LR lives inside the velocity (paper Eq. 2-3); torch: torch.optim.SGD, dampening 0.
enum class SgdForm : uint8_t { caffe, torch };

// The scalars that change from step to step, as they lie in memory on the plan's device
// (SgdPlan::live). A captured CUDA graph replays its launches with their arguments frozen: a step
// that reads these from memory instead takes each step's LR and momentum (the schedule's), gradient
// scale and the torch form's first-step rule from whatever was written there before the launch.
struct SgdLiveScalars {
  float lr = 0.f;
  float momentum = 0.f;
  float grad_scale = 1.f;
  int32_t first_step = 0;
};
static_assert(sizeof(SgdLiveScalars) == 16, "four 4-byte fields: SgdPlan::live is i32 [4]");

// The scalars of one step, shared by every element. lr and weight_decay are multiplied per tensor
// by its lr_mult / decay_mult (SgdTensor) before they reach the element.
struct SgdStepScalars {
  float lr = 0.f;
  float momentum = 0.f;
  float weight_decay = 0.f;
  float grad_scale = 1.f;  // multiplies every gradient first (replica averaging, loss scaling)
  SgdForm form = SgdForm::caffe;
  bool nesterov = false;
  bool decoupled_decay = false;  // false: L2 added to the gradient; true: w -= lr*wd*w apart
  bool first_step = false;       // torch form: the buffer starts as the gradient (as PyTorch does)
  // When set (a pointer into SgdPlan::live, on the plan's device), lr, momentum, grad_scale and
  // first_step are read from there when the step runs, and the fields above are ignored.
  const SgdLiveScalars* live = nullptr;
};

// s with its live fields read from memory (both twins call this where the update starts).
MINIDL_HD SgdStepScalars sgd_resolved(SgdStepScalars s) {
  if (s.live) {
    const SgdLiveScalars l = *s.live;
    s.lr = l.lr;
    s.momentum = l.momentum;
    s.grad_scale = l.grad_scale;
    s.first_step = l.first_step != 0;
    s.live = nullptr;
  }
  return s;
}

MINIDL_HD float sgd_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
MINIDL_HD float sgd_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
MINIDL_HD float sgd_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

// True unless v is NaN or +-Inf (a bit test: immune to fast-math assumptions).
MINIDL_HD bool sgd_is_finite(float v) {
  return (float_to_bits(v) & 0x7f800000u) != 0x7f800000u;
}

// Updates one weight w (f32: the parameter itself or its f32 master copy) and its momentum buffer
// buf from the gradient g. lr and wd are this tensor's effective values (lr * lr_mult, wd *
// decay_mult). Each line is one rounded f32 operation, in this order (docs/optim.md):
//   g  = g * grad_scale;            coupled decay: g = g + wd * w
//   caffe:  v' = mu * v + lr * g;   step = nesterov ? (1 + mu) * v' - mu * v : v'
//   torch:  b' = first ? g : mu * b + g;   step = lr * (nesterov ? g + mu * b' : b')
//   decoupled decay: w = w - (lr * wd) * w   (w before the step);   then w = w - step
MINIDL_HD void sgd_update_element(float& w, float& buf, float g, const SgdStepScalars& s, float lr,
                                  float wd) {
  const float mu = s.momentum;
  g = sgd_mul(g, s.grad_scale);
  if (!s.decoupled_decay) g = sgd_add(g, sgd_mul(wd, w));
  float step;
  if (s.form == SgdForm::caffe) {
    float v_new = sgd_add(sgd_mul(mu, buf), sgd_mul(lr, g));
    step = s.nesterov ? sgd_sub(sgd_mul(sgd_add(1.f, mu), v_new), sgd_mul(mu, buf)) : v_new;
    buf = v_new;
  } else {
    float b = s.first_step ? g : sgd_add(sgd_mul(mu, buf), g);
    step = sgd_mul(lr, s.nesterov ? sgd_add(g, sgd_mul(mu, b)) : b);
    buf = b;
  }
  if (s.decoupled_decay) w = sgd_sub(w, sgd_mul(sgd_mul(lr, wd), w));
  w = sgd_sub(w, step);
}

// ---- the parameter table ----

constexpr int64_t kSgdChunk = 8192;  // elements per chunk: one CUDA block, one CPU task

// One parameter tensor. All arrays are dense with `numel` elements on the plan's device.
struct SgdTensor {
  void* value = nullptr;        // value_dtype; f32: updated in place; bf16/f16: written from master
  const float* grad = nullptr;  // f32
  float* momentum = nullptr;    // f32 velocity (caffe) / buffer (torch)
  float* master = nullptr;      // f32 master weights for bf16/f16 values; nullptr for f32
  int64_t numel = 0;
  float lr_mult = 1.f;
  float decay_mult = 1.f;
  DType value_dtype = DType::f32;
};

// Elements [begin, min(begin + kSgdChunk, numel)) of tensor `tensor`.
struct SgdChunk {
  int32_t tensor;
  int64_t begin;
};
static_assert(sizeof(SgdTensor) % alignof(SgdChunk) == 0, "chunks follow tensors in one buffer");

// Everything the fused step needs, built once per parameter set (build_sgd_plan, optim/sgd.h) and
// reused every step. On CUDA, device_table holds [tensors | chunks] in device memory.
struct SgdPlan {
  Device device;
  std::vector<SgdTensor> tensors;
  std::vector<SgdChunk> chunks;
  Tensor device_table;  // u8, CUDA only
  Tensor flag;          // i32 [1] on `device`: 1 after a step that found a non-finite gradient
  Tensor live;          // i32 [4] on `device`: an SgdLiveScalars (SgdStepScalars::live)
  int64_t total_elements = 0;

  const SgdLiveScalars* live_scalars() const {
    return static_cast<const SgdLiveScalars*>(live.data_ptr());
  }

  const SgdTensor* device_tensors() const {
    return static_cast<const SgdTensor*>(device_table.data_ptr());
  }
  const SgdChunk* device_chunks() const {
    return reinterpret_cast<const SgdChunk*>(static_cast<const char*>(device_table.data_ptr()) +
                                             tensors.size() * sizeof(SgdTensor));
  }
};

// ---- twins ----
// sgd_step: flag = any gradient non-finite; then, unless flag, update every element. No host sync.

namespace cpu {
void sgd_step(const SgdPlan& plan, const SgdStepScalars& s, Stream stream);
}
namespace cuda {
void sgd_step(const SgdPlan& plan, const SgdStepScalars& s, Stream stream);
}

// ---- the op ----

// Enqueues one fused step on the plan's device (the CUDA twin: a flag reset, the check launch and
// the update launch, whatever the number of tensors). Read plan.flag afterwards to learn whether
// the step was skipped.
inline void sgd_fused_step(const SgdPlan& plan, const SgdStepScalars& s) {
  MINIDL_CHECK(plan.flag.defined(), "sgd_fused_step: the plan has not been built");
  MINIDL_DISPATCH(plan.device, sgd_step, plan, s);
}

}  // namespace minidl
