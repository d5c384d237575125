// Sgd: the fused SGD optimiser over a model's parameter arena (DESIGN.md §2, §5, docs/optim.md).
//
//   model.to(device);                      // first: the optimiser keeps the arena's addresses
//   Sgd opt(model, {SgdForm::caffe, /*nesterov=*/true, /*weight_decay=*/1e-4});
//   for (int64_t it = 0; it < iterations; ++it) {
//     model.zero_grad();
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
// - Everything is fixed at construction: the arena's parameters, their multipliers and the step's
//   table (pointers into the arena's buffers and into the momentum and master buffers, which have
//   the arena's layout). step() compares one number, the arena's generation: if the model was
//   moved, converted or repacked since (ParameterArena), it throws; build the optimiser after to().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/sgd.h"
#include "layers/arena.h"
#include "layers/module.h"

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
  // The arena's parameters: unique names; values f32, bf16 or f16; gradients f32.
  Sgd(std::shared_ptr<ParameterArena> arena, SgdOptions options);
  // Sgd(model.arena(), options).
  Sgd(Module& model, SgdOptions options);
  Sgd(const Sgd&) = delete;  // a copy would share the momentum buffers
  Sgd& operator=(const Sgd&) = delete;
  Sgd(Sgd&&) = default;
  Sgd& operator=(Sgd&&) = default;

  // One step with this iteration's lr and momentum; every gradient is first multiplied by
  // grad_scale. Returns true when applied, false when a non-finite gradient skipped it (nothing
  // changed; the caller counts skips: the Solver's TrainState). On CUDA this waits for the step
  // (a 4-byte flag read).
  bool step(double lr, double momentum, double grad_scale = 1.0);

  // step() in two halves, for a caller that reads the outcome later (the Solver's sync_every):
  // launch_step enqueues the step and reads nothing; skip_flag() (i32 [1] on the device, undefined
  // without parameters) holds its outcome until the next launch; record_outcome(applied) counts it.
  // Every launch must be recorded, in order, before state_dict() or the torch form's next first
  // step (first_step_pending()) is read.
  void launch_step(double lr, double momentum, double grad_scale = 1.0);
  const Tensor& skip_flag() const;
  // launch_step() in two halves again, for a captured CUDA graph: the step's kernels read lr,
  // momentum, grad_scale and the first-step rule from the plan's device memory (SgdPlan::live), so
  // launch_live_step() can be captured once and replayed after each write_live_scalars() (an
  // upload queued on the current stream, from pinned memory). launch_step is exactly the two.
  void write_live_scalars(double lr, double momentum, double grad_scale = 1.0);
  void launch_live_step();
  // The plan's live scalars (i32 [4], an SgdLiveScalars on the device; defined once
  // write_live_scalars has run): a kernel may rewrite a field between the upload and the step
  // (the device-side loss scale's grad_scale, kernels/loss_scale.h).
  const Tensor& live_scalars() const { return plan_.live; }
  void record_outcome(bool applied) { steps_ += applied ? 1 : 0; }
  // The torch form's next step starts its buffers from the gradient: the caller must know the
  // outcome of every earlier step before launching it.
  bool first_step_pending() const { return options_.form == SgdForm::torch && steps_ == 0; }

  int64_t steps() const { return steps_; }  // applied steps (the torch form's first-step rule)
  const SgdOptions& options() const { return options_; }
  const std::vector<Parameter*>& parameters() const { return arena_->parameters(); }
  const ParameterArena& arena() const { return *arena_; }
  Device device() const { return plan_.device; }

  // State by parameter name: "momentum.<name>" (f32, the value's shape), "master.<name>" (f32, only
  // for bf16/f16 values), "step" (i64 [1]). The tensors are the live buffers
  // (on the optimiser's device): copy them before changing them.
  std::map<std::string, Tensor> state_dict() const;
  // Checks every name, shape and dtype first (an error names the missing, extra or mis-shaped
  // entry) and only then copies; a loaded master copy is also written (rounded) to the value.
  void load_state_dict(const std::map<std::string, Tensor>& state);
  // load_state_dict's checks alone: throws as it would, changes nothing.
  void check_state_dict(const std::map<std::string, Tensor>& state) const;

  // For benchmarks and tests: the table of the fused step and the scalars step() would use.
  const SgdPlan& plan() const { return plan_; }
  SgdStepScalars scalars(double lr, double momentum, double grad_scale = 1.0) const;

 private:
  void check_parameter(size_t i) const;
  void check_arena(const char* what) const;
  SgdTensor table_entry(size_t i) const;

  std::shared_ptr<ParameterArena> arena_;
  uint64_t generation_ = 0;  // the arena's generation the table was built for
  SgdOptions options_;
  std::vector<std::string> names_;  // the parameters' names at construction (state is by name)
  std::vector<Tensor> momentum_;    // per arena group: f32, laid out like the group's values
  std::vector<Tensor> master_;      // per group: f32 copy of bf16/f16 values; undefined for f32
  SgdPlan plan_;
  int64_t steps_ = 0;
};

// Builds the fused step's table for `tensors` on `device`: the chunk list, the flag and, on CUDA,
// the device copy of the table (uploaded through pinned memory; waits for the upload). Sgd builds
// one at construction; benchmarks and twin tests may build their own.
SgdPlan build_sgd_plan(std::vector<SgdTensor> tensors, Device device);

}  // namespace minidl
