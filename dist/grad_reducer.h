// GradReducer: averages a model's gradients over the ranks of a Communicator in buckets, each sent
// as soon as backward has produced all of it (PyTorch DDP's reducer, over llm.c-style arenas).
//
//   GradReducer reducer(*comm, model.arena());          // buckets of ~25 MB by default
//   // backward, as each parameter's gradient is final:
//   reducer.mark_ready(i);                              // i: index in arena->parameters()
//   reducer.finish();                                   // every gradient is now the ranks' average
//
// Buckets are the arena's (ParameterArena::buckets): contiguous slices of a gradient buffer in
// reverse registration order, the order backward produces gradients, so the all-reduce runs on the
// buffer itself with no copy in or out.
//
// Launch order. Collectives must be issued in the same order on every rank, but two ranks' backward
// passes may mark parameters in different orders (different branches finishing first). So bucket
// k is launched only when it is complete and buckets 0..k-1 have been launched: the launch order is
// always 0, 1, 2, ... on every rank, whatever the marking order; a bucket completed early waits for
// its predecessors (as in DDP).
//
// Contract, per step: mark every parameter exactly once (marking one twice, or finish() with one
// unmarked, throws naming it: the other ranks would wait for a bucket that never comes), then
// finish(), which waits for all buckets, leaves the averages in the arena's gradients and readies
// the reducer for the next step. mark_all_ready() marks those not yet marked (for a caller without
// per-parameter backward hooks). The arena must not be repacked or moved while the reducer lives.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "layers/arena.h"

namespace minidl {

constexpr size_t kDefaultBucketBytes = 25u << 20;  // PyTorch DDP's bucket_cap_mb default

class GradReducer {
 public:
  GradReducer(Communicator& comm, std::shared_ptr<ParameterArena> arena,
              size_t bucket_bytes = kDefaultBucketBytes);
  ~GradReducer();  // waits for buckets in flight (logging, not throwing, on failure)
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  void mark_ready(size_t param);
  void mark_all_ready();
  void finish();

  const std::vector<GradBucket>& buckets() const { return buckets_; }
  size_t bucket_of(size_t param) const { return bucket_of_[param]; }
  size_t launched() const { return next_launch_; }  // buckets launched this step

 private:
  void launch_ready();

  Communicator& comm_;
  std::shared_ptr<ParameterArena> arena_;
  uint64_t generation_;
  std::vector<GradBucket> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::vector<size_t> pending_;    // per bucket: parameters not yet marked this step
  std::vector<bool> marked_;       // per parameter, this step
  std::vector<std::unique_ptr<Work>> in_flight_;
  size_t next_launch_ = 0;
};

}  // namespace minidl
