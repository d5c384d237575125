// Composite modules. Children run forward in order and backward in reverse (DESIGN.md §4).
//
//   Sequential      y = f_n(... f_1(x)); children named "0", "1", ... or by the caller
//   Residual        y = act(main(x) + shortcut(x)); the main path is the block's own sequence
//                   (so its children get flat names: "conv1", "bn1", ... as torchvision's
//                   BasicBlock), the shortcut is identity or a named child ("downsample"), act is
//                   ReLU (fused with the sum: kernels/add_relu.h) or none
//   ChannelConcat   y = concat(x, f(x)) along channels (a DenseNet layer); f = its own sequence
//
// 16-bit activations (docs/precision.md): containers take them, and hand a bf16 / f16 tensor to a
// child only if it takes_16bit; any other child gets it widened to f32, and its dx is narrowed
// back. Branches that end in different dtypes are summed or concatenated in f32, and each branch
// gets its gradient in the dtype it gave.
//
// Shortcut options for a ResNet block with a change of shape (the paper's names):
//   A: ZeroPadShortcut(in, out, stride)  (layers/zero_pad_shortcut.h, no parameters)
//   B: Sequential{Conv2d(in, out, 1, stride, 0, false), BatchNorm2d(out)}   (torchvision)
//   Smith's resnet-56: Sequential{Conv2d(in, out, 2, 2, 0, false), BatchNorm2d(out)}  (2x2/2)
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace minidl {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends a child named by its position ("0", "1", ...) or by `name`. Returns *this.
  Sequential& add(std::shared_ptr<Module> module);
  Sequential& add(const std::string& name, std::shared_ptr<Module> module);

  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "Sequential"; }
  void set_input_grad(bool on) override;
  bool takes_16bit(DType) const override { return true; }

  size_t size() const { return seq_.size(); }
  Module& operator[](size_t i) const { return *seq_.at(i); }

 protected:
  Tensor forward_sequence(const Tensor& x);
  Tensor backward_sequence(const Tensor& dy);
  // m.forward(x), with a 16-bit x widened to f32 first when m does not take it; `widened` is set
  // to x's dtype then (f32 when nothing was widened), for backward_narrowing.
  static Tensor forward_widening(Module& m, const Tensor& x, DType& widened);
  // backward_child(m, dy), its dx narrowed back to `widened` when forward_widening widened.
  Tensor backward_narrowing(Module& m, const Tensor& dy, DType widened);

 private:
  std::vector<Module*> seq_;    // the sequence (owned through the children list)
  std::vector<DType> widened_;  // per child: forward_widening's record of the last forward
};

// std::make_shared<Sequential> of a list: sequential({conv, bn}).
inline std::shared_ptr<Sequential> sequential(
    std::initializer_list<std::shared_ptr<Module>> modules) {
  return std::make_shared<Sequential>(modules);
}

class Residual : public Sequential {
 public:
  // post_relu: apply ReLU after the sum (torchvision's BasicBlock / Bottleneck).
  explicit Residual(bool post_relu = true) : post_relu_(post_relu) {}

  // The shortcut branch (default: identity), registered as child `name`.
  Residual& shortcut(const std::string& name, std::shared_ptr<Module> module);
  Module* shortcut() const { return shortcut_.get(); }

  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "Residual"; }
  std::string options_str() const override { return post_relu_ ? "post_relu=True" : ""; }
  void set_input_grad(bool on) override;

 protected:
  void clear_cache() override { y_ = Tensor(); }

 private:
  bool post_relu_;
  std::shared_ptr<Module> shortcut_;
  Tensor y_;  // the output (post_relu), until backward
  // The last forward's dtypes: the branches' outputs, and what the shortcut's input was widened
  // from (forward_widening).
  DType main_dtype_ = DType::f32, skip_dtype_ = DType::f32, skip_widened_ = DType::f32;
};

class ChannelConcat : public Sequential {
 public:
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  std::string type_name() const override { return "ChannelConcat"; }

 protected:
  void clear_cache() override { cx_ = 0; }

 private:
  int64_t cx_ = 0;                                     // channels of x in the last forward
  DType x_dtype_ = DType::f32, f_dtype_ = DType::f32;  // of x and f(x) in the last forward
};

}  // namespace minidl
