// The Solver: the training loop of minidl_train (DESIGN.md §7), one process. It is the loop alone;
// its parts live beside it:
//   optim/evaluate.h     evaluate() and predict(), the forward-only loops every verb shares
//   optim/train_state.h  TrainState: where the run stands, saved and restored as one
//   optim/observer.h     the record stream read by the progress display (optim/progress.h) and
//                        metrics.csv (optim/metrics.h)
//   optim/checkpoint.h   a checkpoint's files
//
// One iteration: loader -> forward -> loss -> backward -> gradient all-reduce (data parallel only)
// -> fused SGD step with the schedules' lr(it) and momentum(it), its figures logged on the device;
// the host reads them every `sync_every` iterations (SolverOptions). Then, per iteration: the divergence
// check, a test evaluation when due (each epoch, or every eval_every iterations, and at the end),
// one IterationRecord to every observer, a checkpoint when due (each epoch, or every
// checkpoint_every iterations, and at the end), and the stop flag (SIGINT: a checkpoint, then
// stop). resume() continues bit-identically on the CPU.
//
// Data parallel (SolverOptions::comm, DESIGN.md §8, docs/distributed.md): every rank runs a Solver
// over its shard of each batch (the Loader's rank and world size). The gradients are averaged in
// buckets by a GradReducer, each bucket launched from the model's backward hook as soon as its
// parameters' gradients are final (overlap), or all after backward. Parameters and buffers are
// broadcast from rank 0 when run() starts (a fresh or resumed run), and buffers (BN running
// statistics, which each rank updates from its own shard) again before every evaluation, so every
// rank evaluates rank 0's model; the test loader is sharded and the totals summed. Each iteration
// one all_gather combines the ranks' loss, correct count, batch size and stop flag, so every rank
// records the same global loss and makes the same divergence and stop decisions; the step-skip
// decision agrees by itself, since a non-finite gradient on any rank makes the average non-finite
// on all. Rank 0 alone writes checkpoints; observers belong on rank 0 alone (the caller's choice).
//
// Divergence: a non-finite loss, or the smoothed training loss (TrainState::smoothed) above
// `divergence_factor` times its lowest value after `divergence_warmup` iterations. The test loss is
// plain cross-entropy, whatever label smoothing the training loss uses.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "dist/grad_reducer.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "optim/evaluate.h"
#include "optim/observer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "optim/step_graph.h"
#include "optim/train_state.h"

namespace minidl {

struct SolverOptions {
  int64_t max_iter = 0;          // iterations to train in all (a resumed run continues to it)
  int64_t eval_every = 0;        // iterations between evaluations; 0: at each epoch's end
  int64_t eval_batches = -1;     // batches per evaluation; -1: the whole test set
  int64_t checkpoint_every = 0;  // iterations between checkpoints; 0: each epoch; < 0: at the end
  int keep_checkpoints = 3;      // newest kept; 0 keeps all
  std::string run_dir;           // where checkpoints/ go; "" writes none
  double divergence_factor = 10.0;
  int64_t divergence_warmup = 20;
  const std::atomic<bool>* stop = nullptr;  // polled each iteration (SIGINT); any rank's stops all
  // Data parallel: the ranks of the run (null: one process). It must outlive the Solver.
  Communicator* comm = nullptr;
  size_t bucket_bytes = kDefaultBucketBytes;
  bool overlap = true;  // reduce buckets during backward (the backward hook), else after it
  // Called between the gradient all-reduce and the step, with the optimiser's parameters (e.g. to
  // clip gradients, or to inject a fault in a test). Unset alone.
  std::function<void(const std::vector<Parameter*>&)> gradient_hook;
  nlohmann::json config;  // the resolved experiment config, stored in every checkpoint
  // Dynamic loss scaling (TrainState's LossScale: f16 runs): the loss gradient is scaled before
  // backward and the step divides the scale out; the gradient hook sees scaled gradients. The
  // scale lives on the device and is updated there after each step (kernels/loss_scale.h); the
  // host runs the same rule on each step's outcome as it reads it, for the records and the
  // checkpoints, so neither waits for the other.
  bool dynamic_loss_scale = false;
  double initial_loss_scale = 65536.0;
  int64_t loss_scale_growth_interval = 2000;
  // Iterations between host reads of the training figures (each step's loss, top-1 hits and skip
  // flag). In between they go into a log on the device (kernels/step_log.h) and the host enqueues
  // the next iteration without waiting for the device; a read also comes before each evaluation
  // and checkpoint and at the last iteration. The records are then processed in order exactly as
  // if each had been read at once: metrics, progress, divergence and checkpoints are unchanged.
  // What moves: a stop (SIGINT), a divergence or a callback's stop takes effect at the read, up
  // to sync_every - 1 iterations after the one it names (a diverged run writes no checkpoint),
  // and the records of a window share its mean time.
  int64_t sync_every = 1;
  // Capture the training step as a CUDA graph after a few eager steps and replay it for every
  // batch of the same shapes (optim/step_graph.h; docs/gpu.md, "CUDA graphs"). CUDA only; not
  // with data parallel, a gradient hook, caffe-style or synchronised batch norm.
  bool cuda_graph = false;
};

class Solver {
 public:
  Solver(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer, const Schedule& lr,
         const Schedule& momentum, Loader& train, Loader* test, SolverOptions options);
  ~Solver();  // removes the model's backward hook
  Solver(const Solver&) = delete;
  Solver& operator=(const Solver&) = delete;

  // Observers get every record, in the order they were added; they must outlive run(). One added
  // after resume() gets its state from the checkpoint (TrainObserver::restore).
  void add_observer(TrainObserver& observer);
  // Called after every iteration (after the observers); returning false stops run().
  void on_iteration(std::function<bool(const IterationRecord&)> callback) {
    callback_ = std::move(callback);
  }

  // Trains until max_iter (or a stop). Returns why it ended; message() says more.
  SolverStatus run();

  // Writes a checkpoint of the current state into run_dir; returns its folder. Ranks other than 0
  // write nothing and return the folder rank 0 writes.
  std::string save_checkpoint();

  // Restores model, optimiser, TrainState and the observers' states from a checkpoint folder, or
  // from a run directory's newest readable checkpoint: a newer one that cannot be read or does not
  // fit this run is skipped, and `skipped` (if given) gets "folder: why" for each. The checkpoint
  // must fit the run: format, schedules, the config (but threads, workers and out), an iteration
  // within max_iter, a consistent TrainState; nothing is changed by one that does not. Returns the
  // checkpoint folder used; the train loader continues where the run was.
  std::string resume(const std::string& path, std::vector<std::string>* skipped = nullptr);

  const TrainState& state() const { return state_; }
  const std::string& message() const { return message_; }
  const EvalResult& last_eval() const { return last_eval_; }
  // The world size of the run that wrote the resumed checkpoint (1 for one process); a different
  // one continues correctly but not bit-identically (docs/distributed.md).
  int resumed_world_size() const { return resumed_world_size_; }

 private:
  // An iteration enqueued on the device whose figures the host has not read yet.
  struct Launched {
    double lr = 0, momentum = 0;
    double samples = 0;  // the batch size (data parallel: this rank's, then the global one)
    // Filled by read_window():
    double loss = 0, hits = 0, seconds = 0;
    bool applied = true;
  };
  void resume_from(const std::string& folder);
  void launch_iteration();
  bool read_due() const;
  std::vector<Launched> read_window();     // the launched iterations' figures, in order
  IterationRecord settle(const Launched&);  // the bookkeeping of the next iteration
  Batch next_batch();
  bool diverged(const IterationRecord& r);  // sets message_
  SolverStatus interrupt();
  bool eval_due(int64_t iteration) const;
  bool checkpoint_due(int64_t iteration) const;
  int rank() const { return options_.comm ? options_.comm->rank() : 0; }
  int world_size() const { return options_.comm ? options_.comm->world_size() : 1; }
  void reduce_gradients();
  void broadcast_state(bool parameters);  // from rank 0: buffers, and parameters when asked
  EvalResult evaluate_test();

  Module& model_;
  SoftmaxCrossEntropy& loss_;
  SoftmaxCrossEntropy eval_loss_;  // plain cross-entropy for the test loss
  Sgd& optimizer_;
  const Schedule& lr_;
  const Schedule& momentum_;
  Loader& train_;
  Loader* test_;
  SolverOptions options_;
  int64_t iters_per_epoch_;
  std::vector<TrainObserver*> observers_;
  std::function<bool(const IterationRecord&)> callback_;
  TrainState state_;
  nlohmann::json observer_states_;  // from the resumed checkpoint, by observer name
  EvalResult last_eval_;
  std::string message_;
  std::unique_ptr<GradReducer> reducer_;                // data parallel only
  std::unordered_map<Parameter*, size_t> param_index_;  // in the reducer's arena
  bool stop_requested_ = false;  // at the last read: SIGINT on some rank
  std::vector<Launched> window_;  // launched since the last read
  Tensor step_log_;               // f64 [sync_every, 3] on the model's device
  std::unique_ptr<StepGraph> graph_;  // cuda_graph only
  Tensor step_log_cursor_;        // i64 [1] beside it: the next record's row (kernels/step_log.h)
  Tensor loss_scale_;  // f64 [2] on the device: the dynamic loss scale (kernels/loss_scale.h)
  std::chrono::steady_clock::time_point window_start_;
  int resumed_world_size_ = 1;
};

}  // namespace minidl
