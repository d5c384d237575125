#include "layers/containers.h"

#include <sstream>

#include "kernels/add_relu.h"
#include "kernels/elementwise.h"
#include "kernels/image_layout.h"

namespace minidl {

namespace {

// Whether no other tensor shares t's buffer, so that a result of t's shape and layout may be
// written there instead of into a fresh allocation (fresh multi-megabyte buffers cost page faults
// on the CPU). A tensor a child still holds (a cache, an alias of its input) is shared, so never
// reused.
bool sole_owner(const Tensor& t) {
  return t.defined() && t.storage().use_count() == 1;
}

// t's own buffer when this caller holds it alone, else a new tensor of its shape and layout.
Tensor reuse_or_empty(const Tensor& t) {
  return sole_owner(t) ? t : empty_like_layout(t.shape(), t);
}

// a + b in a's layout (either may be undefined when a branch computes no input gradient).
Tensor sum_of(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  Tensor out = empty_like_layout(a.shape(), a);
  ::minidl::add(a, match_layout(b, a), out);
  return out;
}

}  // namespace

// ---- Sequential ----

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) add(m);
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  return add(std::to_string(children().size()), std::move(module));
}

Sequential& Sequential::add(const std::string& name, std::shared_ptr<Module> module) {
  Module* raw = module.get();
  register_module(name, std::move(module));
  seq_.push_back(raw);
  return *this;
}

Tensor Sequential::forward_widening(Module& m, const Tensor& x, DType& widened) {
  widened = DType::f32;
  if (!x.defined() || !is_16bit_float(x.dtype()) || m.takes_16bit(x.dtype())) return m.forward(x);
  widened = x.dtype();
  return m.forward(x.to(DType::f32));
}

Tensor Sequential::backward_narrowing(Module& m, const Tensor& dy, DType widened) {
  Tensor dx = backward_child(m, dy);
  return widened != DType::f32 && dx.defined() ? dx.to(widened) : dx;
}

Tensor Sequential::forward_sequence(const Tensor& x) {
  Tensor h = x;
  widened_.assign(seq_.size(), DType::f32);
  for (size_t i = 0; i < seq_.size(); ++i) h = forward_widening(*seq_[i], h, widened_[i]);
  return h;
}

Tensor Sequential::backward_sequence(const Tensor& dy) {
  Tensor g = dy;
  for (size_t i = seq_.size(); i-- > 0;)
    g = backward_narrowing(*seq_[i], g, i < widened_.size() ? widened_[i] : DType::f32);
  return g;
}

Tensor Sequential::forward(const Tensor& x) {
  return forward_sequence(x);
}

Tensor Sequential::backward(const Tensor& dy) {
  return backward_sequence(dy);
}

void Sequential::set_input_grad(bool on) {
  input_grad_ = on;
  if (!seq_.empty()) seq_.front()->set_input_grad(on);
}

// ---- Residual ----

Residual& Residual::shortcut(const std::string& name, std::shared_ptr<Module> module) {
  MINIDL_CHECK(!shortcut_, where(), ": the shortcut is set already");
  shortcut_ = register_module(name, std::move(module));
  return *this;
}

void Residual::set_input_grad(bool on) {
  // Both branches read x: each may skip its dx only when the block's is not wanted.
  Sequential::set_input_grad(on);
  if (shortcut_) shortcut_->set_input_grad(on);
}

// With post_relu the sum and the ReLU are one pass (kernels/add_relu.h), written into the main
// path's output when nothing else holds it (the last BatchNorm's fresh y, usually).
Tensor Residual::forward(const Tensor& x) {
  Tensor main = forward_sequence(x);
  Tensor skip = shortcut_ ? forward_widening(*shortcut_, x, skip_widened_) : x;
  MINIDL_CHECK(main.shape() == skip.shape(), where(), ": main path gives ", shape_str(main.shape()),
               " but the shortcut ", shape_str(skip.shape()),
               " (add a projection or ZeroPadShortcut)");
  main_dtype_ = main.dtype();
  skip_dtype_ = skip.dtype();
  if (main_dtype_ != skip_dtype_) {  // e.g. a 16-bit identity beside a main path ending in f32
    main = main.to(DType::f32);
    skip = skip.to(DType::f32);
  }
  skip = match_layout(skip, main);
  Tensor y = reuse_or_empty(main);
  if (post_relu_)
    add_relu_forward(main, skip, y);
  else
    ::minidl::add(main, skip, y);
  y_ = training() && post_relu_ ? y : Tensor();
  return y;
}

// g (the gradient of the sum) is written once, into y's buffer when nothing else holds y, and
// handed to both branches; the branches' input gradients are summed into the main path's dx (the
// first child's fresh tensor, usually) rather than into a new one.
Tensor Residual::backward(const Tensor& dy) {
  Tensor g = dy;
  if (post_relu_) {
    check_cached(y_);
    Tensor y = y_;
    y_ = Tensor();
    g = reuse_or_empty(y);
    add_relu_backward(y, match_layout(dy, y).to(y.dtype()), g);
  }
  // The shortcut's gradient first, as the reverse of the forward order (main, then shortcut);
  // each branch's in the dtype it gave.
  Tensor gskip = g.to(skip_dtype_);
  Tensor dskip = shortcut_ ? backward_narrowing(*shortcut_, gskip, skip_widened_) : gskip;
  Tensor dmain = backward_sequence(g.to(main_dtype_));
  if (!input_grad_) return Tensor();
  if (!dmain.defined() || !dskip.defined()) return sum_of(dmain, dskip);
  Tensor dx = reuse_or_empty(dmain);
  ::minidl::add(dmain, match_layout(dskip, dmain), dx);
  return dx;
}

// ---- ChannelConcat ----

Tensor ChannelConcat::forward(const Tensor& x) {
  Tensor xin = match_layout(x, x);
  MINIDL_CHECK(xin.dim() == 4, where(), ": expected [N, C, H, W], got ", shape_str(x.shape()));
  Tensor f = forward_sequence(xin);
  MINIDL_CHECK(f.dim() == 4 && f.size(0) == xin.size(0) && f.size(2) == xin.size(2) &&
                   f.size(3) == xin.size(3),
               where(), ": cannot concatenate x ", shape_str(xin.shape()), " and f(x) ",
               shape_str(f.shape()));
  const int64_t cx = xin.size(1), cf = f.size(1);
  x_dtype_ = xin.dtype();
  f_dtype_ = f.dtype();
  const DType dt = x_dtype_ == f_dtype_ ? x_dtype_ : DType::f32;  // copy_ converts
  Tensor y = empty_like_layout({xin.size(0), cx + cf, xin.size(2), xin.size(3)}, xin, dt);
  y.narrow(1, 0, cx).copy_(xin);
  y.narrow(1, cx, cf).copy_(f);
  cx_ = training() ? cx : 0;
  return y;
}

Tensor ChannelConcat::backward(const Tensor& dy) {
  MINIDL_CHECK(cx_ > 0, where(), ": backward without a training-mode forward");
  const int64_t cx = cx_;
  cx_ = 0;
  Tensor dx_direct = match_layout(dy.narrow(1, 0, cx), dy).to(x_dtype_);
  Tensor df = match_layout(dy.narrow(1, cx, dy.size(1) - cx), dy).to(f_dtype_);
  return sum_of(dx_direct, backward_sequence(df));
}

}  // namespace minidl
