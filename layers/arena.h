// ParameterArena: the parameters of a model packed into contiguous buffers (DESIGN.md §2, llm.c's
// params_memory / grads_memory). Module::arena() builds and keeps the one of a model; the optimiser
// steps over it, zero_grad() clears it with one fill, and the data-parallel all-reduce sends its
// gradient buckets.
//
//   std::shared_ptr<ParameterArena> arena = model.arena();   // packs on the first call
//   arena->zero_grad();                                       // one fill per group
//   for (const GradBucket& b : arena->buckets(25 << 20)) all_reduce(b.grads);   // backward order
//
// Layout. Parameters that share (value dtype, gradient dtype) form a group: one flat buffer holds
// their values, a second their gradients, in registration order, each parameter at the same element
// offset in both. A model has one group (f32 values and gradients, or f64 after Module::to(f64));
// bf16/f16 values with f32 gradients make a second. Every offset is a multiple of kArenaAlign
// elements (256 bytes or more, whatever to(DType) does) from a buffer start that is itself a
// multiple of 1 KiB past its allocation (state_buffer), so each parameter is as aligned as the
// allocator's blocks: 64 bytes on the CPU (AVX-512 loads), 256 on CUDA (cuDNN). The gaps between
// parameters are zero and stay zero (nothing but zero_grad writes them).
//
// Contract once packed:
//  - Each Parameter's value and grad are views of the buffers (same Storage, an offset). Change
//  them
//    in place (copy_, fills, kernels, Module::load_state_dict), never by assigning another tensor
//    to the handle: Module::arena() notices a replaced handle and repacks, and anything built on
//    the old arena (an optimiser) then refuses to run.
//  - A parameter belongs to one arena at a time: packing it again retires the arena it was in
//    (retired() turns true, generation() moves on, zero_grad() and to() throw).
//  - to(Device) and to(DType) move or convert whole buffers, re-point every view and advance
//    generation() when anything moved: addresses taken before (an optimiser's table) are stale.
//  - The arena keeps raw Parameter pointers: it must not be used after the parameters die.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/parameter.h"

namespace minidl {

constexpr int64_t kArenaAlign = 128;  // elements; every parameter's offset is a multiple of it

// One group's buffers: 1-d, contiguous, `values` in the group's value dtype, `grads` in its
// gradient dtype, both of the same length (the last parameter's end, rounded up to kArenaAlign).
struct ArenaGroup {
  Tensor values;
  Tensor grads;
};

// Where parameter i lives: elements [offset, offset + numel) of group `group`'s buffers.
struct ArenaSlot {
  size_t group = 0;
  int64_t offset = 0;
  Shape shape;
  int64_t numel() const { return shape_numel(shape); }
};

// A slice of a group's gradient buffer for one all-reduce: a 1-d contiguous view covering the
// gradients of parameters()[begin, end) (and the zero gaps between them, not after the last).
struct GradBucket {
  Tensor grads;
  size_t begin = 0, end = 0;
};

class ParameterArena {
 public:
  // Packs `params` (non-null, each once, value and gradient defined with one shape, all on one
  // device): copies every value and gradient into the group buffers and makes them views. Throws
  // naming the parameter that breaks a condition; an empty list gives an empty arena on the CPU.
  static std::shared_ptr<ParameterArena> pack(std::vector<Parameter*> params);
  ParameterArena(const ParameterArena&) = delete;
  ParameterArena& operator=(const ParameterArena&) = delete;

  const std::vector<Parameter*>& parameters() const { return params_; }  // registration order
  const std::vector<ArenaSlot>& slots() const { return slots_; }         // one per parameter
  const std::vector<ArenaGroup>& groups() const { return groups_; }
  Device device() const { return device_; }

  // Parameter i's view of `flat`, a buffer laid out like its group's (the group's own values or
  // grads, or an optimiser's momentum): elements [offset, offset + numel), in the parameter's
  // shape.
  Tensor view(const Tensor& flat, size_t i) const;

  // A zeroed flat buffer laid out like group `group`'s (for an optimiser's momentum or master
  // weights), of `dtype`, on the arena's device. Buffers that a step streams through together
  // start at different addresses modulo 4 KiB: values at 0, gradients 1 KiB past theirs, state
  // buffer `stream` (0, 1, ...) at (2 + stream) KiB. Large allocations all start at the same page
  // offset, and equal offsets make the CPU's store-to-load checks alias every load of one buffer
  // with the stores of another (4K aliasing: the fused SGD step ran 8-13% slower,
  // docs/benchmarks.md).
  Tensor state_buffer(size_t group, DType dtype, int stream) const;

  // Sets every gradient (and gap) to zero: one fill per group.
  void zero_grad();

  // The gradient buffers cut into buckets of at most max_bytes, in reverse registration order (the
  // order backward produces gradients, so a bucket can be all-reduced as soon as it is complete).
  // Each bucket covers consecutive parameters of one group; together they cover every parameter
  // exactly once and never overlap. A parameter larger than max_bytes gets a bucket of its own.
  std::vector<GradBucket> buckets(size_t max_bytes) const;

  // Move or convert every buffer at once (both dtypes become `dtype`) and re-point the views.
  void to(Device device);
  void to(DType dtype);

  // Advances whenever the views move (to() that changes something) and when the arena is retired.
  uint64_t generation() const { return generation_; }
  bool retired() const { return retired_; }

  // True when this arena is live, holds exactly `params` in that order and every value and grad is
  // still its view (the check Module::arena() makes before reusing an arena).
  bool holds_exactly(const std::vector<Parameter*>& params) const;

 private:
  ParameterArena() = default;
  void place(const std::vector<Parameter*>& params);
  void repoint();
  void retire();
  void check_live(const char* what) const;
  bool is_view(const Tensor& t, const Tensor& flat, size_t i) const;

  std::vector<Parameter*> params_;
  std::vector<ArenaSlot> slots_;
  std::vector<ArenaGroup> groups_;
  Device device_ = Device::cpu();
  uint64_t generation_ = 0;
  bool retired_ = false;
};

}  // namespace minidl
