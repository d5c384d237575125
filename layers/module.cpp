#include "layers/module.h"

#include <set>
#include <sstream>

namespace minidl {

namespace {

std::string join(const std::string& path, const std::string& local) {
  return path.empty() ? local : path + "." + local;
}

// "1,234,567"
std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

// ---- description ----

std::string Module::where() const {
  return type_name() + (path_.empty() ? std::string() : " '" + path_ + "'");
}

void Module::describe_into(std::string& out, const std::string& name, int depth) const {
  std::string indent(static_cast<size_t>(depth) * 2, ' ');
  out += indent + (name.empty() ? "" : "(" + name + "): ") + type_name() + "(" + options_str();
  if (children_.empty()) {
    out += ")\n";
    return;
  }
  out += "\n";
  for (const auto& [local, child] : children_) child->describe_into(out, local, depth + 1);
  out += indent + ")\n";
}

std::string Module::describe() const {
  std::string out;
  describe_into(out, "", 0);
  out += "parameters: " + with_commas(parameter_count()) + "\n";
  return out;
}

// ---- tree ----

void Module::attach(const std::string& name, std::shared_ptr<Module> module) {
  MINIDL_CHECK(module != nullptr, where(), ": register_module('", name, "') with a null module");
  MINIDL_CHECK(!name.empty() && name.find('.') == std::string::npos, where(), ": module name '",
               name, "' must be non-empty and without dots");
  MINIDL_CHECK(module->parent_ == nullptr, where(), ": module '", name, "' (", module->where(),
               ") already has a parent");
  for (const auto& [local, child] : children_)
    MINIDL_CHECK(local != name, where(), ": a child named '", name, "' exists already");
  module->parent_ = this;
  module->set_path(join(path_, name));
  children_.emplace_back(name, std::move(module));
}

void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& op : params_) op.p->name = join(path_, op.local);
  for (auto& ob : buffers_) ob.b->name = join(path_, ob.local);
  for (auto& [local, child] : children_) child->set_path(join(path_, local));
}

Module& Module::submodule(const std::string& dotted) {
  Module* m = this;
  std::stringstream parts(dotted);
  std::string part;
  while (std::getline(parts, part, '.')) {
    Module* next = nullptr;
    std::string known;
    for (const auto& [local, child] : m->children_) {
      if (local == part) next = child.get();
      known += (known.empty() ? "" : ", ") + local;
    }
    MINIDL_CHECK(next != nullptr, m->where(), " has no child '", part, "' (path '", dotted,
                 "'); its children: ", known.empty() ? "none" : known);
    m = next;
  }
  return *m;
}

void Module::visit(const std::function<void(Module&)>& f) {
  f(*this);
  for (auto& [local, child] : children_) child->visit(f);
}

void Module::set_compute_precision(DType precision) {
  MINIDL_CHECK(precision == DType::f32 || precision == DType::bf16 || precision == DType::f16,
               where(), ": compute precision ", dtype_name(precision),
               ", expected f32, bf16 or f16");
  visit([precision](Module& m) { m.precision_ = precision; });
}

void Module::set_memory_format(MemoryFormat format) {
  visit([format](Module& m) { m.memory_format_ = format; });
}

// ---- parameters and buffers ----

// Throws unless `value` is defined and `name` is new among this module's `kind`s.
template <typename Owned>
static void check_registration(const Module& m, const char* kind, const std::string& name,
                               const Tensor& value, const std::vector<Owned>& registered) {
  MINIDL_CHECK(value.defined(), m.where(), ": ", kind, " '", name, "' is an undefined tensor");
  for (const Owned& o : registered)
    MINIDL_CHECK(o.local != name, m.where(), ": ", kind, " '", name, "' registered twice");
}

Parameter* Module::register_parameter(const std::string& name, Tensor value, bool is_bias_or_norm) {
  check_registration(*this, "parameter", name, value, params_);
  auto p = std::make_unique<Parameter>();
  p->name = join(path_, name);
  p->value = value.contiguous();
  p->grad = Tensor::zeros(value.shape(), value.dtype(), value.device());
  p->is_bias_or_norm = is_bias_or_norm;
  Parameter* raw = p.get();
  params_.push_back({name, std::move(p)});
  device_ = value.device();
  dtype_ = value.dtype();
  return raw;
}

Buffer* Module::register_buffer(const std::string& name, Tensor value, bool random_state) {
  check_registration(*this, "buffer", name, value, buffers_);
  auto b = std::make_unique<Buffer>();
  b->name = join(path_, name);
  b->value = value;
  b->random_state = random_state;
  Buffer* raw = b.get();
  buffers_.push_back({name, std::move(b)});
  return raw;
}

std::vector<Parameter*> Module::own_parameters() {
  std::vector<Parameter*> out;
  for (auto& op : params_) out.push_back(op.p.get());
  return out;
}

Tensor Module::backward_child(Module& child, const Tensor& dy) {
  Tensor dx = child.backward(dy);
  const Module* root = this;
  while (root->parent_) root = root->parent_;
  if (root->backward_hook_) root->backward_hook_(child);
  return dx;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  visit([&](Module& m) {
    for (auto& op : m.params_) out.push_back(op.p.get());
  });
  return out;
}

std::vector<Buffer*> Module::buffers() {
  std::vector<Buffer*> out;
  visit([&](Module& m) {
    for (auto& ob : m.buffers_) out.push_back(ob.b.get());
  });
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& op : params_) n += op.p->value.numel();
  for (const auto& [local, child] : children_) n += child->parameter_count();
  return n;
}

void Module::zero_grad() {
  arena()->zero_grad();
}

std::shared_ptr<ParameterArena> Module::arena() {
  std::vector<Parameter*> params = parameters();
  if (arena_ && arena_->holds_exactly(params)) return arena_;
  std::shared_ptr<ParameterArena> theirs = params.empty() ? nullptr : params[0]->arena.lock();
  arena_ = theirs && theirs->holds_exactly(params) ? theirs : ParameterArena::pack(params);
  return arena_;
}

std::vector<std::pair<std::string, Tensor>> Module::named_tensors() {
  std::vector<std::pair<std::string, Tensor>> out;
  visit([&](Module& m) {
    for (auto& op : m.params_) out.emplace_back(op.p->name, op.p->value);
    for (auto& ob : m.buffers_) out.emplace_back(ob.b->name, ob.b->value);
  });
  return out;
}

std::map<std::string, Tensor> Module::state_dict() {
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : named_tensors()) out.emplace(name, t);
  return out;
}

void Module::check_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  auto mine = named_tensors();
  std::vector<std::string> problems;
  std::set<std::string> known;
  for (auto& [name, t] : mine) {
    known.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      problems.push_back("missing '" + name + "' " + shape_str(t.shape()));
    } else if (it->second.shape() != t.shape()) {
      problems.push_back("'" + name + "' has shape " + shape_str(it->second.shape()) +
                         ", the module expects " + shape_str(t.shape()));
    }
  }
  if (strict)
    for (const auto& [name, t] : state)
      if (!known.count(name))
        problems.push_back("unexpected '" + name + "' " + shape_str(t.shape()));
  if (!problems.empty()) {
    std::string msg;
    for (size_t i = 0; i < problems.size() && i < 10; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 10)
      msg += "\n  ... and " + std::to_string(problems.size() - 10) + " more";
    MINIDL_FAIL(where(), ": load_state_dict: ", problems.size(), " problem(s):", msg);
  }
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  check_state_dict(state, strict);
  // Weights from elsewhere (a PyTorch export in f64 or f16) are converted to the module's dtypes;
  // say so, since the values change (rounding) without any other sign.
  std::vector<std::string> converted;
  for (auto& [name, t] : named_tensors()) {
    Tensor dst = t;  // a handle: copies into the module's storage
    const Tensor& src = state.at(name);
    if (src.dtype() != dst.dtype())
      converted.push_back("'" + name + "' " + dtype_name(src.dtype()) + " -> " +
                          dtype_name(dst.dtype()));
    dst.copy_(src);
  }
  if (!converted.empty())
    log_warning(where() + ": load_state_dict converted " + std::to_string(converted.size()) +
                " tensor(s) to the module's dtype: " + converted[0] +
                (converted.size() > 1 ? ", ..." : ""));
  visit([](Module& m) {
    m.clear_cache();
    m.on_state_loaded();
  });
}

// ---- mode, device, dtype ----

Module& Module::train(bool on) {
  visit([on](Module& m) { m.training_ = on; });
  return *this;
}

Module& Module::to(Device device) {
  check_device_available(device);
  arena()->to(device);
  visit([device](Module& m) {
    for (auto& ob : m.buffers_)
      ob.b->value = ob.b->value.to(device);
    m.device_ = device;
    m.clear_cache();
  });
  return *this;
}

Module& Module::to(DType dtype) {
  MINIDL_CHECK(dtype == DType::f32 || dtype == DType::f64, where(), ": to(", dtype_name(dtype),
               "): layers compute in f32 or f64");
  arena()->to(dtype);
  visit([dtype](Module& m) {
    for (auto& ob : m.buffers_) {
      DType t = ob.b->value.dtype();
      if (t == DType::f32 || t == DType::f64) ob.b->value = ob.b->value.to(dtype);
    }
    m.dtype_ = dtype;
    m.clear_cache();
  });
  return *this;
}

void Module::check_input(const Tensor& x) const {
  MINIDL_CHECK(x.defined(), where(), ": forward of an undefined tensor");
  if (params_.empty() && buffers_.empty()) return;
  const bool dtype_ok =
      x.dtype() == dtype_ ||
      (dtype_ == DType::f32 && is_16bit_float(x.dtype()) && takes_16bit(x.dtype()));
  MINIDL_CHECK(x.device() == device_ && dtype_ok, where(), ": input ", x.str(),
               " but the layer's parameters are ", dtype_name(dtype_), " on ", device_.str(),
               " (move the input, or the module with to())");
}

void Module::check_cached(const Tensor& cached) const {
  MINIDL_CHECK(cached.defined(), where(),
               ": backward without a training-mode forward (forward caches what backward needs "
               "only in training mode, and backward releases it)");
}

}  // namespace minidl
