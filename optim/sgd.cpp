// Sgd: parameter checks, optimiser state, the per-step flow around the fused kernel.
#include "optim/sgd.h"

#include <cmath>
#include <set>

namespace minidl {

SgdForm parse_sgd_form(const std::string& name) {
  if (name == "caffe") return SgdForm::caffe;
  if (name == "torch") return SgdForm::torch;
  MINIDL_FAIL("unknown SGD form '", name, "' (known: caffe, torch)");
}

const char* sgd_form_name(SgdForm form) {
  return form == SgdForm::caffe ? "caffe" : "torch";
}

void Sgd::check_parameter(const Parameter& p) const {
  const std::string what = "Sgd: parameter '" + p.name + "'";
  MINIDL_CHECK(p.value.defined(), what, " has no value");
  MINIDL_CHECK(p.grad.defined(), what, " has no gradient");
  DType t = p.value.dtype();
  MINIDL_CHECK(t == DType::f32 || t == DType::bf16 || t == DType::f16, what, " has dtype ",
               dtype_name(t), "; the optimiser updates f32, bf16 and f16 values");
  MINIDL_CHECK(p.grad.dtype() == DType::f32, what, ": gradient dtype ", dtype_name(p.grad.dtype()),
               ", expected f32");
  MINIDL_CHECK(p.grad.shape() == p.value.shape(), what, ": gradient shape ",
               shape_str(p.grad.shape()), " differs from value shape ", shape_str(p.value.shape()));
  MINIDL_CHECK(p.value.is_contiguous() && p.grad.is_contiguous(), what,
               ": value and gradient must be contiguous");
  MINIDL_CHECK(p.value.device() == plan_.device && p.grad.device() == plan_.device, what,
               " lives on ", p.value.device().str(), " (gradient on ", p.grad.device().str(),
               "), but the optimiser's parameters are on ", plan_.device.str());
  MINIDL_CHECK(std::isfinite(p.lr_mult) && std::isfinite(p.decay_mult), what,
               ": lr_mult and decay_mult must be finite");
}

Sgd::Sgd(std::vector<Parameter*> params, SgdOptions options)
    : params_(std::move(params)), options_(options) {
  MINIDL_CHECK(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0,
               "Sgd: weight_decay must be finite and >= 0, got ", options_.weight_decay);
  plan_.device = params_.empty() || !params_[0] ? Device::cpu() : params_[0]->value.device();
  std::set<std::string> names;
  for (size_t i = 0; i < params_.size(); ++i) {
    MINIDL_CHECK(params_[i] != nullptr, "Sgd: parameter ", i, " is null");
    const Parameter& p = *params_[i];
    MINIDL_CHECK(names.insert(p.name).second, "Sgd: two parameters are named '", p.name,
                 "' (state is saved by name)");
    check_parameter(p);
    momentum_.push_back(Tensor::zeros(p.value.shape(), DType::f32, plan_.device));
    master_.push_back(p.value.dtype() == DType::f32 ? Tensor() : p.value.to(DType::f32));
  }
  refresh_plan();
}

Sgd::Signature Sgd::signature(const Parameter& p) const {
  return {p.value.data_ptr(), p.grad.data_ptr(), p.lr_mult, p.decay_mult, p.is_bias_or_norm};
}

// Rebuilds the table when a parameter's tensors or multipliers changed since it was built.
void Sgd::refresh_plan() {
  bool same = built_from_.size() == params_.size();
  for (size_t i = 0; same && i < params_.size(); ++i) {
    Signature a = signature(*params_[i]), b = built_from_[i];
    same = a.value == b.value && a.grad == b.grad && a.lr_mult == b.lr_mult &&
           a.decay_mult == b.decay_mult && a.is_bias_or_norm == b.is_bias_or_norm;
  }
  if (same && plan_.flag.defined()) return;
  std::vector<SgdTensor> table;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Parameter& p = *params_[i];
    check_parameter(p);
    MINIDL_CHECK(p.value.shape() == momentum_[i].shape() &&
                     (p.value.dtype() == DType::f32) == !master_[i].defined(),
                 "Sgd: parameter '", p.name,
                 "' changed shape or dtype since the optimiser was built");
    bool replaced = i < built_from_.size() && built_from_[i].value != p.value.data_ptr();
    if (replaced && master_[i].defined()) master_[i].copy_(p.value);  // re-seed from the new value
    SgdTensor t;
    t.value = p.value.data_ptr();
    t.grad = p.grad.data<float>();
    t.momentum = momentum_[i].data<float>();
    t.master = master_[i].defined() ? master_[i].data<float>() : nullptr;
    t.numel = p.value.numel();
    t.lr_mult = p.lr_mult;
    t.decay_mult = options_.no_decay_bias_and_norm && p.is_bias_or_norm ? 0.f : p.decay_mult;
    t.value_dtype = p.value.dtype();
    table.push_back(t);
  }
  Device device = plan_.device;
  plan_ = build_sgd_plan(std::move(table), device);
  built_from_.clear();
  for (Parameter* p : params_) built_from_.push_back(signature(*p));
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
  MINIDL_CHECK(std::isfinite(lr) && lr >= 0, "Sgd::step: lr must be finite and >= 0, got ", lr);
  MINIDL_CHECK(std::isfinite(momentum) && momentum >= 0,
               "Sgd::step: momentum must be finite and >= 0, got ", momentum);
  MINIDL_CHECK(std::isfinite(grad_scale), "Sgd::step: grad_scale must be finite, got ", grad_scale);
  refresh_plan();
  sgd_fused_step(plan_, scalars(lr, momentum, grad_scale));
  bool skipped = !plan_.chunks.empty() && plan_.flag.item<int32_t>() != 0;
  if (skipped)
    ++skipped_;
  else
    ++steps_;
  return !skipped;
}

// ---- state by name ----

std::map<std::string, Tensor> Sgd::state_dict() const {
  std::map<std::string, Tensor> state;
  for (size_t i = 0; i < params_.size(); ++i) {
    state["momentum." + params_[i]->name] = momentum_[i];
    if (master_[i].defined()) state["master." + params_[i]->name] = master_[i];
  }
  state["step"] = Tensor::from_vector(std::vector<int64_t>{steps_}, {1});
  state["skipped_steps"] = Tensor::from_vector(std::vector<int64_t>{skipped_}, {1});
  return state;
}

void Sgd::load_state_dict(const std::map<std::string, Tensor>& state) {
  // The entries this optimiser expects, and where each goes.
  std::map<std::string, Tensor> expected = state_dict();
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
    bool counter = name == "step" || name == "skipped_steps";
    MINIDL_CHECK(counter ? src.dtype() == DType::i64 : src.dtype() == DType::f32,
                 "Sgd::load_state_dict: entry '", name, "' has dtype ", dtype_name(src.dtype()),
                 ", expected ", counter ? "i64" : "f32");
  }
  for (auto& [name, dst] : expected) {
    if (name != "step" && name != "skipped_steps") dst.copy_(state.at(name));
  }
  steps_ = state.at("step").item<int64_t>();
  skipped_ = state.at("skipped_steps").item<int64_t>();
  for (size_t i = 0; i < params_.size(); ++i)
    if (master_[i].defined()) params_[i]->value.copy_(master_[i]);  // rounds to nearest even
}

}  // namespace minidl
