// Module: the base of every layer and block (DESIGN.md §4). There is no autograd tape: memory and
// order are explicit, as in Caffe and llm.c.
//
// Contract of a module:
//  - forward(x) returns y; in training mode it caches what backward needs (usually references to
//    x and/or y: tensors are shared handles, nothing is copied).
//  - backward(dy) returns dx for the most recent training-mode forward, ACCUMULATES (+=) into the
//    gradients of its parameters (never overwrites: zero_grad() clears them), and releases the
//    cache. One backward per forward.
//  - Composites call their children's forward in order and backward in reverse.
//
// Names: a module registered under a parent gets a dotted path ("layer1.0.conv1"); its parameters
// and buffers are named path + local name ("layer1.0.conv1.weight"), as torchvision names them, so
// state dicts move between minidl and PyTorch. Names are fixed when the tree is built
// (registration) and are the same whether asked of the root or of a submodule.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/philox.h"
#include "layers/arena.h"
#include "layers/parameter.h"

namespace minidl {

// A named non-trainable tensor (BN running statistics, num_batches_tracked, Dropout's RNG state).
struct Buffer {
  std::string name;  // full dotted name, like Parameter::name
  Tensor value;
  // The state of a random stream (Dropout's seed and offset), kept on the module's device so that
  // a CUDA graph's replays advance it: each data-parallel rank keeps its own (the Solver's
  // broadcast skips it), and a gradient check's freeze_randomness restores it.
  bool random_state = false;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- computation ----
  virtual Tensor forward(const Tensor& x) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;
  // Whether forward takes x in the 16-bit float type t (bf16 / f16 activations, docs/precision.md)
  // for a module of f32 parameters. Such a module's backward takes dy in its output's dtype and
  // returns dx in x's. The default, false: containers widen a 16-bit x to f32 before handing it
  // over, and narrow the dx they get back (Sequential).
  virtual bool takes_16bit(DType t) const { return false; }

  // ---- description ----
  virtual std::string type_name() const = 0;              // "Conv2d"
  virtual std::string options_str() const { return ""; }  // "16, 32, kernel_size=3, stride=1"
  // The module tree, one module per line (PyTorch's repr), and the parameter count.
  std::string describe() const;
  // This module's dotted path in its tree ("" for a root) and "Conv2d 'layer1.0.conv1'" for errors.
  const std::string& path() const { return path_; }
  std::string where() const;

  // ---- tree ----
  // Direct children in registration order, with their local names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // The descendant at a dotted path relative to this module ("layer1.0.conv1"); throws, listing
  // the children, if there is none.
  Module& submodule(const std::string& dotted);
  // Calls f on this module and every descendant, depth first, parents before children.
  void visit(const std::function<void(Module&)>& f);

  // Called with a module right after its backward() returned, when a container ran it: that
  // module's own parameters then hold their final gradients (a network uses each parameter once per
  // forward). Set on the root of a tree; containers below it call the root's hook for each child.
  // Data-parallel training uses it to start a gradient bucket's all-reduce while the rest of
  // backward runs (PyTorch DDP's autograd hooks; dist/grad_reducer.h). An empty function: none.
  void set_backward_hook(std::function<void(Module&)> hook) { backward_hook_ = std::move(hook); }

  // ---- parameters and buffers ----
  // This module's own parameters, not its children's, in registration order.
  std::vector<Parameter*> own_parameters();
  // Depth first: a module's own (in registration order), then its children's (PyTorch's order).
  std::vector<Parameter*> parameters();
  std::vector<Buffer*> buffers();
  int64_t parameter_count() const;  // number of scalar parameters
  void zero_grad();  // one fill per arena group (packs the parameters first if need be)

  // The arena holding parameters() (layers/arena.h): packed on the first call, and again whenever
  // the parameter list changed or a handle was replaced since (each call checks; one that repacks
  // retires the old arena, and an optimiser built on it then refuses to step). An arena packed
  // elsewhere from exactly parameters() is adopted. to() and zero_grad() go through it.
  std::shared_ptr<ParameterArena> arena();

  // Parameters and buffers by full name, in state-dict order (per module: parameters, buffers).
  std::vector<std::pair<std::string, Tensor>> named_tensors();
  std::map<std::string, Tensor> state_dict();
  // Copies every tensor of `state` into the module (converting dtype and device as needed). Throws
  // naming the tensor when one is missing from `state`, has another shape, or (strict) when
  // `state` holds a name the module does not have.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  // load_state_dict's checks alone: throws as it would, changes nothing.
  void check_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // (Re)initialises this module's own parameters with a named scheme (layers/init.h); a no-op for
  // modules without weights. init_weights() calls it on every module of a tree.
  virtual void init_parameters(const std::string& scheme, Generator& gen) {}

  // ---- mode, device, dtype ----
  Module& train(bool on = true);
  Module& eval() { return train(false); }
  bool training() const { return training_; }
  // Moves (or converts) every parameter, gradient and floating buffer, and drops caches. to(f64)
  // is for the gradient checks; integer buffers (num_batches_tracked) keep their dtype. Parameters
  // move as whole arena buffers (ParameterArena::to): build the optimiser after to().
  Module& to(Device device);
  Module& to(DType dtype);
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }

  // Whether backward computes dx (default true). A network's first layer does not need it: Conv2d
  // and Linear then skip that work and return an undefined dx; containers pass the setting to their
  // first child. Layers that ignore it compute dx anyway.
  virtual void set_input_grad(bool on) { input_grad_ = on; }
  bool input_grad() const { return input_grad_; }

  // The precision Conv2d and Linear compute in (docs/precision.md): f32 (the default) or bf16 /
  // f16 with f32 accumulation: a convolution without bias runs the 16-bit kernel and writes a
  // 16-bit output, which batch norm, ReLU, the residual adds and the option-A shortcut read and
  // write in 16 bits with f32 math (takes_16bit); Linear and a biased convolution round their
  // f32 operands and results in f32 storage (kernels/precision.h): the same values. Sets this
  // module and every descendant; batch norm's parameters and statistics, the loss and the
  // optimiser's weights stay f32, as under PyTorch's autocast. f64 tensors (the gradient checks)
  // are never rounded.
  void set_compute_precision(DType precision);
  DType compute_precision() const { return precision_; }

  // The layout of 4-d activations (docs/layers.md, "Memory format"). contiguous (the default):
  // each layer answers in the layout it is given (Conv2d on the CPU: NCHW). channels_last: Conv2d
  // converts its input to NHWC if it is not (once, at the first convolution) and writes NHWC, so
  // every activation and gradient after it is NHWC, as PyTorch's model.to(memory_format=
  // torch.channels_last) gives; the other layers follow the layout they are given. Sets this
  // module and every descendant.
  void set_memory_format(MemoryFormat format);
  MemoryFormat memory_format() const { return memory_format_; }

 protected:
  // Registration (call from constructors). The value becomes a Parameter with a zero gradient of
  // the same shape, dtype and device.
  Parameter* register_parameter(const std::string& name, Tensor value,
                                bool is_bias_or_norm = false);
  Buffer* register_buffer(const std::string& name, Tensor value, bool random_state = false);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    attach(name, module);
    return module;
  }

  // Hooks for layers: drop cached activations (called by to() and load_state_dict()); refresh
  // host-side copies of buffers (called after load_state_dict()).
  virtual void clear_cache() {}
  virtual void on_state_loaded() {}

  // child.backward(dy), then the tree's backward hook (set_backward_hook) on child. Containers run
  // their children's backward through it.
  Tensor backward_child(Module& child, const Tensor& dy);

  // For a module with parameters or buffers of its own: throws unless x is on the module's device
  // with its dtype, or a 16-bit dtype it takes_16bit ("Conv2d 'conv1': input Tensor[f32, cpu, ...]
  // but parameters on cuda:0").
  void check_input(const Tensor& x) const;
  // Throws "<where>: backward without a training-mode forward" when `cached` is undefined.
  void check_cached(const Tensor& cached) const;

  bool input_grad_ = true;
  DType precision_ = DType::f32;
  MemoryFormat memory_format_ = MemoryFormat::contiguous;

 private:
  void attach(const std::string& name, std::shared_ptr<Module> module);
  void set_path(const std::string& path);
  void describe_into(std::string& out, const std::string& name, int depth) const;

  struct OwnedParameter {
    std::string local;
    std::unique_ptr<Parameter> p;
  };
  struct OwnedBuffer {
    std::string local;
    std::unique_ptr<Buffer> b;
  };
  std::string path_;
  Module* parent_ = nullptr;
  bool training_ = true;
  Device device_ = Device::cpu();
  DType dtype_ = DType::f32;
  std::vector<OwnedParameter> params_;
  std::vector<OwnedBuffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<ParameterArena> arena_;       // of parameters(), once arena() was called
  std::function<void(Module&)> backward_hook_;  // on a root (set_backward_hook)
};

}  // namespace minidl
