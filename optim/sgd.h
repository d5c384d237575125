// Sgd: the fused SGD optimiser over a fixed set of parameters (DESIGN.md §5, docs/optim.md).
//
//   Sgd opt(model.parameters(), {SgdForm::caffe, /*nesterov=*/true, /*weight_decay=*/1e-4});
//   for (int64_t it = 0; it < iterations; ++it) {
//     ... forward, backward (+= into every p->grad) ...
//     if (!opt.step(lr->value(it), momentum->value(it)))
//       std::printf("iteration %lld: non-finite gradient, step skipped (%lld so far)\n", ...);
//   }
//
// - Forms: caffe (the paper's Eq. 2-3: the LR inside the velocity; Caffe's Nesterov) and torch
//   (torch.optim.SGD with dampening 0). Formulas: kernels/sgd.h, sgd_update_element.
// - Per parameter: effective lr = lr * lr_mult; effective decay = weight_decay * decay_mult, or 0
//   for is_bias_or_norm parameters when no_decay_bias_and_norm is set.
// - bf16/f16 parameter values get an f32 master copy (seeded from the value) and f32 momentum; the
//   update runs in f32 on the master and the value is written back rounded to nearest even.
// - A non-finite gradient anywhere skips the whole step (nothing is written) and is counted.
// - The parameter set is fixed at construction (build the optimiser after moving the model to its
//   device). If a parameter's tensors are replaced later the table is rebuilt; a replaced bf16/f16
//   value re-seeds its master copy from the new value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/sgd.h"
#include "layers/parameter.h"

namespace minidl {

struct SgdOptions {
  SgdForm form = SgdForm::caffe;
  bool nesterov = false;
  double weight_decay = 0.0;
  bool decoupled_decay = false;         // false: L2 added to the gradient (the paper)
  bool no_decay_bias_and_norm = false;  // no decay on parameters marked is_bias_or_norm
};

SgdForm parse_sgd_form(const std::string& name);  // "caffe" | "torch"; throws listing both
const char* sgd_form_name(SgdForm form);

class Sgd {
 public:
  // params: non-null with unique names, all on one device; values contiguous f32/bf16/f16; grads
  // f32 with the value's shape, contiguous, on the same device.
  Sgd(std::vector<Parameter*> params, SgdOptions options);
  Sgd(const Sgd&) = delete;  // a copy would share the momentum buffers
  Sgd& operator=(const Sgd&) = delete;
  Sgd(Sgd&&) = default;
  Sgd& operator=(Sgd&&) = default;

  // One step with this iteration's lr and momentum; every gradient is first multiplied by
  // grad_scale. Returns true when applied, false when a non-finite gradient skipped it (nothing
  // changed; skipped_steps() counts it). On CUDA this waits for the step (a 4-byte flag read).
  bool step(double lr, double momentum, double grad_scale = 1.0);

  int64_t steps() const { return steps_; }  // applied steps
  int64_t skipped_steps() const { return skipped_; }
  const SgdOptions& options() const { return options_; }
  const std::vector<Parameter*>& parameters() const { return params_; }
  Device device() const { return plan_.device; }

  // State by parameter name: "momentum.<name>" (f32, the value's shape), "master.<name>" (f32, only
  // for bf16/f16 values), "step" and "skipped_steps" (i64 [1]). The tensors are the live buffers
  // (on the optimiser's device): copy them before changing them.
  std::map<std::string, Tensor> state_dict() const;
  // Checks every name, shape and dtype first (an error names the missing, extra or mis-shaped
  // entry) and only then copies; a loaded master copy is also written (rounded) to the value.
  void load_state_dict(const std::map<std::string, Tensor>& state);

  // For benchmarks and tests: the table of the fused step and the scalars step() would use.
  const SgdPlan& plan() const { return plan_; }
  SgdStepScalars scalars(double lr, double momentum, double grad_scale = 1.0) const;

 private:
  struct Signature {  // what the plan was built from, compared before each step
    const void* value;
    const void* grad;
    float lr_mult, decay_mult;
    bool is_bias_or_norm;
  };
  void check_parameter(const Parameter& p) const;
  void refresh_plan();
  Signature signature(const Parameter& p) const;

  std::vector<Parameter*> params_;
  SgdOptions options_;
  std::vector<Tensor> momentum_;  // f32, one per parameter
  std::vector<Tensor> master_;    // f32 for bf16/f16 values, undefined for f32
  std::vector<Signature> built_from_;
  SgdPlan plan_;
  int64_t steps_ = 0;
  int64_t skipped_ = 0;
};

// Builds the fused step's table for `tensors` on `device`: the chunk list, the flag and, on CUDA,
// the device copy of the table (uploaded through pinned memory; waits for the upload).
SgdPlan build_sgd_plan(std::vector<SgdTensor> tensors, Device device);

}  // namespace minidl
