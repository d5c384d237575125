#include "layers/arena.h"

#include <set>
#include <utility>

#include "core/fill.h"

namespace minidl {

namespace {

int64_t round_up(int64_t n, int64_t to) {
  return (n + to - 1) / to * to;
}

void check_packable(const Parameter* p, size_t i, const std::set<const Parameter*>& seen,
                    Device device) {
  MINIDL_CHECK(p != nullptr, "ParameterArena::pack: parameter ", i, " is null");
  const std::string what = "ParameterArena::pack: parameter '" + p->name + "'";
  MINIDL_CHECK(!seen.count(p), what, " is listed twice");
  MINIDL_CHECK(p->value.defined(), what, " has no value");
  MINIDL_CHECK(p->grad.defined(), what, " has no gradient");
  MINIDL_CHECK(p->grad.shape() == p->value.shape(), what, ": gradient shape ",
               shape_str(p->grad.shape()), " differs from value shape ",
               shape_str(p->value.shape()));
  MINIDL_CHECK(p->value.device() == device && p->grad.device() == device, what, " lives on ",
               p->value.device().str(), " (gradient on ", p->grad.device().str(),
               ") but the first parameter on ", device.str(), "; an arena holds one device");
}

}  // namespace

std::shared_ptr<ParameterArena> ParameterArena::pack(std::vector<Parameter*> params) {
  std::shared_ptr<ParameterArena> arena(new ParameterArena());
  std::set<const Parameter*> seen;
  if (!params.empty() && params[0]) arena->device_ = params[0]->value.device();
  for (size_t i = 0; i < params.size(); ++i) {
    check_packable(params[i], i, seen, arena->device_);
    seen.insert(params[i]);
  }
  arena->place(params);
  // Copy in, then hand the parameters over: their previous arena (if another) no longer owns them.
  for (size_t i = 0; i < params.size(); ++i) {
    const ArenaGroup& g = arena->groups_[arena->slots_[i].group];
    arena->view(g.values, i).copy_(params[i]->value);
    arena->view(g.grads, i).copy_(params[i]->grad);
  }
  for (Parameter* p : params) {
    std::shared_ptr<ParameterArena> previous = p->arena.lock();
    if (previous && previous != arena) previous->retire();
    p->arena = arena;
  }
  arena->params_ = std::move(params);
  arena->repoint();
  return arena;
}

namespace {

// n zeroed elements starting skew_bytes past the start of their allocation (a multiple of 1 KiB:
// kArenaAlign elements of 8 bytes, so every offset keeps its alignment).
Tensor skewed_zeros(int64_t n, DType dtype, Device device, int64_t skew_bytes) {
  const int64_t skew = skew_bytes / static_cast<int64_t>(dtype_size(dtype));
  return Tensor::zeros({n + skew}, dtype, device).narrow(0, skew, n);
}

constexpr int64_t kGradSkew = 1024, kStateSkew = 2048;  // bytes; values: 0

}  // namespace

// Assigns groups and aligned offsets in registration order and allocates the zeroed buffers.
void ParameterArena::place(const std::vector<Parameter*>& params) {
  std::vector<std::pair<DType, DType>> keys;  // (value, gradient) dtype of each group
  std::vector<int64_t> sizes;
  for (const Parameter* p : params) {
    std::pair<DType, DType> key{p->value.dtype(), p->grad.dtype()};
    size_t g = 0;
    while (g < keys.size() && keys[g] != key) ++g;
    if (g == keys.size()) {
      keys.push_back(key);
      sizes.push_back(0);
    }
    ArenaSlot s;
    s.group = g;
    s.offset = round_up(sizes[g], kArenaAlign);
    s.shape = p->value.shape();
    sizes[g] = s.offset + s.numel();
    slots_.push_back(s);
  }
  for (size_t g = 0; g < keys.size(); ++g) {
    int64_t n = round_up(sizes[g], kArenaAlign);
    groups_.push_back({skewed_zeros(n, keys[g].first, device_, 0),
                       skewed_zeros(n, keys[g].second, device_, kGradSkew)});
  }
}

Tensor ParameterArena::view(const Tensor& flat, size_t i) const {
  MINIDL_CHECK(i < slots_.size(), "ParameterArena::view: parameter ", i, " of ", slots_.size());
  const ArenaSlot& s = slots_[i];
  return flat.narrow(0, s.offset, s.numel()).view(s.shape);
}

void ParameterArena::repoint() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const ArenaGroup& g = groups_[slots_[i].group];
    params_[i]->value = view(g.values, i);
    params_[i]->grad = view(g.grads, i);
  }
}

void ParameterArena::retire() {
  if (retired_) return;
  retired_ = true;
  ++generation_;
}

void ParameterArena::check_live(const char* what) const {
  MINIDL_CHECK(!retired_, "ParameterArena::", what,
               ": this arena is retired (its parameters were packed into another one)");
}

Tensor ParameterArena::state_buffer(size_t group, DType dtype, int stream) const {
  MINIDL_CHECK(group < groups_.size() && stream >= 0 && stream < 8,
               "ParameterArena::state_buffer: group ", group, " of ", groups_.size(), ", stream ",
               stream);
  return skewed_zeros(groups_[group].values.numel(), dtype, device_, kStateSkew + 1024 * stream);
}

void ParameterArena::zero_grad() {
  check_live("zero_grad");
  for (const ArenaGroup& g : groups_) fill(g.grads, 0.0);
}

std::vector<GradBucket> ParameterArena::buckets(size_t max_bytes) const {
  MINIDL_CHECK(max_bytes > 0, "ParameterArena::buckets: max_bytes must be > 0");
  std::vector<GradBucket> out;
  size_t end = slots_.size();
  while (end > 0) {
    const ArenaSlot& last = slots_[end - 1];
    const Tensor& grads = groups_[last.group].grads;
    const int64_t stop = last.offset + last.numel();
    const size_t elem = dtype_size(grads.dtype());
    size_t begin = end - 1;  // the last parameter always fits, alone if need be
    while (begin > 0 && slots_[begin - 1].group == last.group &&
           static_cast<size_t>(stop - slots_[begin - 1].offset) * elem <= max_bytes)
      --begin;
    const int64_t start = slots_[begin].offset;
    out.push_back({grads.narrow(0, start, stop - start), begin, end});
    end = begin;
  }
  return out;
}

void ParameterArena::to(Device device) {
  check_live("to(Device)");
  if (device == device_) return;
  check_device_available(device);
  for (ArenaGroup& g : groups_) {
    Tensor values = skewed_zeros(g.values.numel(), g.values.dtype(), device, 0);
    Tensor grads = skewed_zeros(g.grads.numel(), g.grads.dtype(), device, kGradSkew);
    values.copy_(g.values);
    grads.copy_(g.grads);
    g = {values, grads};
  }
  device_ = device;
  repoint();
  ++generation_;
}

void ParameterArena::to(DType dtype) {
  check_live("to(DType)");
  bool changed = false;
  for (ArenaGroup& g : groups_) {
    if (g.values.dtype() == dtype && g.grads.dtype() == dtype) continue;
    changed = true;
    Tensor values = skewed_zeros(g.values.numel(), dtype, device_, 0);
    Tensor grads = skewed_zeros(g.grads.numel(), dtype, device_, kGradSkew);
    values.copy_(g.values);
    grads.copy_(g.grads);
    g = {values, grads};
  }
  if (!changed) return;
  repoint();
  ++generation_;
}

bool ParameterArena::is_view(const Tensor& t, const Tensor& flat, size_t i) const {
  const ArenaSlot& s = slots_[i];
  return t.defined() && t.storage() == flat.storage() && t.dtype() == flat.dtype() &&
         t.offset() == flat.offset() + s.offset && t.shape() == s.shape && t.is_contiguous();
}

bool ParameterArena::holds_exactly(const std::vector<Parameter*>& params) const {
  if (retired_ || params != params_) return false;
  for (size_t i = 0; i < params_.size(); ++i) {
    const ArenaGroup& g = groups_[slots_[i].group];
    if (!is_view(params_[i]->value, g.values, i) || !is_view(params_[i]->grad, g.grads, i))
      return false;
  }
  return true;
}

}  // namespace minidl
