#include "dist/grad_reducer.h"

#include "core/error.h"

namespace minidl {

GradReducer::GradReducer(Communicator& comm, std::shared_ptr<ParameterArena> arena,
                         size_t bucket_bytes)
    : comm_(comm), arena_(std::move(arena)) {
  MINIDL_CHECK(arena_ != nullptr, "GradReducer: no arena");
  MINIDL_CHECK(!arena_->retired(), "GradReducer: the arena is retired (its model was repacked)");
  MINIDL_CHECK(arena_->device() == comm_.device(), "GradReducer: the arena is on ",
               arena_->device().str(), ", the ", comm_.backend(), " communicator on ",
               comm_.device().str());
  generation_ = arena_->generation();
  buckets_ = arena_->buckets(bucket_bytes);
  bucket_of_.assign(arena_->parameters().size(), 0);
  pending_.assign(buckets_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t p = buckets_[b].begin; p < buckets_[b].end; ++p) bucket_of_[p] = b;
    pending_[b] = buckets_[b].end - buckets_[b].begin;
  }
  marked_.assign(arena_->parameters().size(), false);
}

GradReducer::~GradReducer() {
  for (auto& w : in_flight_) {
    try {
      w->wait();
    } catch (const std::exception& e) {
      log_warning(std::string("GradReducer: a bucket failed while being destroyed: ") + e.what());
    }
  }
}

void GradReducer::mark_ready(size_t param) {
  MINIDL_CHECK(param < marked_.size(), "GradReducer::mark_ready: parameter ", param,
               " of a model of ", marked_.size());
  MINIDL_CHECK(!marked_[param], "GradReducer::mark_ready: parameter ", param,
               " was already marked ready this step");
  MINIDL_CHECK(arena_->generation() == generation_ && !arena_->retired(),
               "GradReducer: the arena moved or was repacked since the reducer was built");
  marked_[param] = true;
  --pending_[bucket_of_[param]];
  launch_ready();
}

void GradReducer::mark_all_ready() {
  for (size_t p = 0; p < marked_.size(); ++p)
    if (!marked_[p]) mark_ready(p);
}

// Launches, in bucket order, every complete bucket whose predecessors have all been launched.
void GradReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && pending_[next_launch_] == 0) {
    in_flight_.push_back(comm_.all_reduce_async(buckets_[next_launch_].grads, ReduceOp::average));
    ++next_launch_;
  }
}

void GradReducer::finish() {
  for (size_t p = 0; p < marked_.size(); ++p)
    MINIDL_CHECK(marked_[p], "GradReducer::finish: parameter ", p,
                 " was never marked ready this step (its bucket ", bucket_of_[p],
                 " cannot be reduced; mark_all_ready() marks the rest)");
  for (auto& w : in_flight_) w->wait();
  in_flight_.clear();
  next_launch_ = 0;
  marked_.assign(marked_.size(), false);
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = buckets_[b].end - buckets_[b].begin;
}

}  // namespace minidl
