// step_log: one training step's figures written into a log on the step's device, so that the host
// reads a window of steps in one copy (SolverOptions::sync_every, optim/solver.h) instead of
// waiting on the device for three values after every step.
//
//   log[cursor] = { loss, top-1 hits, skipped };  cursor += 1
//                                                 log: f64 [window, 3], dense; cursor: i64 [1]
//
//   loss     the batch's mean loss (f32 or f64 [1]); an f32 converts to f64 exactly
//   hits     how many ranks are 0 (SoftmaxCrossEntropy::ranks(): the true label's rank among the
//            logits, so 0 is a top-1 hit); an exact count in f64 below 2^53
//   skipped  1 when the fused SGD step's flag (SgdPlan::flag, i32 [1]) is set, else 0; 0 when the
//            flag is undefined (a model without parameters has no step to skip)
//
// The log stays on the device: no host sync. The three values of a slot are written by one thread
// after one block's reduction, so a slot is never half-written when the host copies the log.
// The row comes from the cursor in device memory, not from a launch argument: a CUDA graph
// captured once replays the record into the next row each time (launch arguments are frozen at
// capture). The host sets the cursor to 0 after each read. A cursor at or past the log's rows
// writes nothing and still advances, so the host finds the overrun when it reads the cursor.
#pragma once

#include "core/tensor.h"
#include "kernels/elementwise.h"  // MINIDL_HD, MINIDL_DISPATCH

namespace minidl {

constexpr int64_t kStepLogFields = 3;  // loss, hits, skipped

// ---- element math ----

MINIDL_HD double top1_hit(int64_t rank) { return rank == 0 ? 1.0 : 0.0; }

// ---- twins ----

namespace cpu {
void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor, Stream s);
}  // namespace cpu
namespace cuda {
void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor, Stream s);
}  // namespace cuda

// ---- the op ----

// Writes log[cursor] from a step's loss, ranks and skip flag (flag may be undefined), and advances
// the cursor. All on one device; throws on a wrong shape or dtype.
void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor);

}  // namespace minidl
