// Sgd: parameter checks, the table built once over the arena, optimiser state, and the per-step
// flow around the fused kernel.
#include "optim/sgd.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/context.h"
#include "core/storage.h"

namespace minidl {

SgdForm parse_sgd_form(const std::string& name) {
  if (name == "caffe") return SgdForm::caffe;
  if (name == "torch") return SgdForm::torch;
  MINIDL_FAIL("unknown SGD form '", name, "' (known: caffe, torch)");
}

const char* sgd_form_name(SgdForm form) {
  return form == SgdForm::caffe ? "caffe" : "torch";
}

void Sgd::check_parameter(size_t i) const {
  const Parameter& p = *arena_->parameters()[i];
  const std::string what = "Sgd: parameter '" + p.name + "'";
  DType t = p.value.dtype();
  MINIDL_CHECK(t == DType::f32 || t == DType::bf16 || t == DType::f16, what, " has dtype ",
               dtype_name(t), "; the optimiser updates f32, bf16 and f16 values");
  MINIDL_CHECK(p.grad.dtype() == DType::f32, what, ": gradient dtype ", dtype_name(p.grad.dtype()),
               ", expected f32");
  MINIDL_CHECK(std::isfinite(p.lr_mult) && std::isfinite(p.decay_mult), what,
               ": lr_mult and decay_mult must be finite");
}

// Parameter i's row of the fused step's table: addresses inside the arena's buffers and the
// optimiser's buffers of the same layout, and the multipliers (read once, here).
SgdTensor Sgd::table_entry(size_t i) const {
  const Parameter& p = *arena_->parameters()[i];
  const size_t g = arena_->slots()[i].group;
  const ArenaGroup& group = arena_->groups()[g];
  SgdTensor t;
  t.value = arena_->view(group.values, i).data_ptr();
  t.grad = arena_->view(group.grads, i).data<float>();
  t.momentum = arena_->view(momentum_[g], i).data<float>();
  t.master = master_[g].defined() ? arena_->view(master_[g], i).data<float>() : nullptr;
  t.numel = arena_->slots()[i].numel();
  t.lr_mult = p.lr_mult;
  t.decay_mult = options_.no_decay_bias_and_norm && p.is_bias_or_norm ? 0.f : p.decay_mult;
  t.value_dtype = group.values.dtype();
  return t;
}

Sgd::Sgd(std::shared_ptr<ParameterArena> arena, SgdOptions options)
    : arena_(std::move(arena)), options_(options) {
  MINIDL_CHECK(arena_ != nullptr, "Sgd: the parameter arena is null");
  MINIDL_CHECK(arena_->holds_exactly(arena_->parameters()),
               "Sgd: the parameter arena is stale (retired, or a parameter's value or grad was ",
               "replaced after packing): build the optimiser from model.arena(), which repacks");
  MINIDL_CHECK(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0,
               "Sgd: weight_decay must be finite and >= 0, got ", options_.weight_decay);
  std::set<std::string> names;
  for (size_t i = 0; i < arena_->parameters().size(); ++i) {
    const std::string& name = arena_->parameters()[i]->name;
    MINIDL_CHECK(names.insert(name).second, "Sgd: two parameters are named '", name,
                 "' (state is saved by name)");
    check_parameter(i);
    names_.push_back(name);
  }
  for (size_t g = 0; g < arena_->groups().size(); ++g) {
    const Tensor& values = arena_->groups()[g].values;
    momentum_.push_back(arena_->state_buffer(g, DType::f32, 0));
    master_.push_back(values.dtype() == DType::f32 ? Tensor()
                                                   : arena_->state_buffer(g, DType::f32, 1));
    if (master_.back().defined()) master_.back().copy_(values);  // seeded from the value
  }
  std::vector<SgdTensor> table;
  for (size_t i = 0; i < names_.size(); ++i) table.push_back(table_entry(i));
  plan_ = build_sgd_plan(std::move(table), arena_->device());
  generation_ = arena_->generation();
}

Sgd::Sgd(Module& model, SgdOptions options) : Sgd(model.arena(), options) {}

// The one check per step: the table's addresses are still the arena's.
void Sgd::check_arena(const char* what) const {
  MINIDL_CHECK(arena_->generation() == generation_, "Sgd::", what, ": the parameters were ",
               arena_->retired() ? "repacked into a new arena (the model's parameter list or a "
                                   "parameter's tensor changed)"
                                 : "moved or converted (Module::to)",
               " after the optimiser was built; build the optimiser after to()");
}

SgdStepScalars Sgd::scalars(double lr, double momentum, double grad_scale) const {
  SgdStepScalars s;
  s.lr = static_cast<float>(lr);
  s.momentum = static_cast<float>(momentum);
  s.weight_decay = static_cast<float>(options_.weight_decay);
  s.grad_scale = static_cast<float>(grad_scale);
  s.form = options_.form;
  s.nesterov = options_.nesterov;
  s.decoupled_decay = options_.decoupled_decay;
  s.first_step = options_.form == SgdForm::torch && steps_ == 0;
  return s;
}

bool Sgd::step(double lr, double momentum, double grad_scale) {
  launch_step(lr, momentum, grad_scale);
  bool skipped = skip_flag().defined() && skip_flag().item<int32_t>() != 0;
  record_outcome(!skipped);
  return !skipped;
}

const Tensor& Sgd::skip_flag() const {
  static const Tensor none;
  return plan_.chunks.empty() ? none : plan_.flag;
}

void Sgd::launch_step(double lr, double momentum, double grad_scale) {
  write_live_scalars(lr, momentum, grad_scale);
  launch_live_step();
}

void Sgd::write_live_scalars(double lr, double momentum, double grad_scale) {
  MINIDL_CHECK(std::isfinite(lr) && lr >= 0, "Sgd::step: lr must be finite and >= 0, got ", lr);
  MINIDL_CHECK(std::isfinite(momentum) && momentum >= 0,
               "Sgd::step: momentum must be finite and >= 0, got ", momentum);
  MINIDL_CHECK(std::isfinite(grad_scale), "Sgd::step: grad_scale must be finite, got ", grad_scale);
  const SgdStepScalars s = scalars(lr, momentum, grad_scale);
  SgdLiveScalars live;
  live.lr = s.lr;
  live.momentum = s.momentum;
  live.grad_scale = s.grad_scale;
  live.first_step = s.first_step ? 1 : 0;
  if (plan_.device.is_cpu()) {
    std::memcpy(plan_.live.data_ptr(), &live, sizeof live);
    return;
  }
  // From pinned memory, so the copy is queued, not waited for; the pinned allocator hands the
  // block out again only once the stream has passed the copy.
  Tensor staging = Tensor::empty({4}, DType::i32, Device::cpu(), /*pinned=*/true);
  std::memcpy(staging.data_ptr(), &live, sizeof live);
  copy_bytes(plan_.live.data_ptr(), plan_.device, staging.data_ptr(), Device::cpu(), sizeof live);
  staging.record_stream(current_stream(plan_.device));
}

void Sgd::launch_live_step() {
  check_arena("step");
  SgdStepScalars s = scalars(0.0, 0.0);
  s.live = plan_.live_scalars();
  sgd_fused_step(plan_, s);
}

// ---- state by name ----

std::map<std::string, Tensor> Sgd::state_dict() const {
  std::map<std::string, Tensor> state;
  for (size_t i = 0; i < names_.size(); ++i) {
    const size_t g = arena_->slots()[i].group;
    state["momentum." + names_[i]] = arena_->view(momentum_[g], i);
    if (master_[g].defined()) state["master." + names_[i]] = arena_->view(master_[g], i);
  }
  state["step"] = Tensor::from_vector(std::vector<int64_t>{steps_}, {1});
  return state;
}

void Sgd::check_state_dict(const std::map<std::string, Tensor>& state) const {
  check_arena("load_state_dict");
  const std::map<std::string, Tensor> expected = state_dict();
  for (const auto& [name, src] : state)
    MINIDL_CHECK(expected.count(name), "Sgd::load_state_dict: unexpected entry '", name,
                 "' (no parameter of this optimiser matches it, or it is f32 and has no master)");
  for (const auto& [name, dst] : expected) {
    auto it = state.find(name);
    MINIDL_CHECK(it != state.end(), "Sgd::load_state_dict: missing entry '", name, "'");
    const Tensor& src = it->second;
    MINIDL_CHECK(src.defined(), "Sgd::load_state_dict: entry '", name, "' is undefined");
    MINIDL_CHECK(src.shape() == dst.shape(), "Sgd::load_state_dict: entry '", name, "' has shape ",
                 shape_str(src.shape()), ", expected ", shape_str(dst.shape()));
    bool counter = name == "step";
    MINIDL_CHECK(counter ? src.dtype() == DType::i64 : src.dtype() == DType::f32,
                 "Sgd::load_state_dict: entry '", name, "' has dtype ", dtype_name(src.dtype()),
                 ", expected ", counter ? "i64" : "f32");
  }
}

void Sgd::load_state_dict(const std::map<std::string, Tensor>& state) {
  check_state_dict(state);
  for (auto& [name, dst] : state_dict()) {
    if (name != "step") dst.copy_(state.at(name));
  }
  steps_ = state.at("step").item<int64_t>();
  // Whole buffers (the gaps are zero in both); rounds to nearest even.
  for (size_t g = 0; g < master_.size(); ++g)
    if (master_[g].defined()) Tensor(arena_->groups()[g].values).copy_(master_[g]);
}

}  // namespace minidl
