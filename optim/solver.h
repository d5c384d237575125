// The Solver: the training loop of minidl_train (DESIGN.md §7), one process. It is the loop alone;
// its parts live beside it:
//   optim/evaluate.h     evaluate() and predict(), the forward-only loops every verb shares
//   optim/train_state.h  TrainState: where the run stands, saved and restored as one
//   optim/observer.h     the record stream read by the progress display (optim/progress.h) and
//                        metrics.csv (optim/metrics.h)
//   optim/checkpoint.h   a checkpoint's files
//
// One iteration: loader -> forward -> loss -> backward -> gradient hook (the all-reduce; none in
// one process) -> fused SGD step with the schedules' lr(it) and momentum(it). Then: the divergence
// check, a test evaluation when due (each epoch, or every eval_every iterations, and at the end),
// one IterationRecord to every observer, a checkpoint when due (each epoch, or every
// checkpoint_every iterations, and at the end), and the stop flag (SIGINT: a checkpoint, then
// stop). resume() continues bit-identically on the CPU.
//
// Divergence: a non-finite loss, or the smoothed training loss (TrainState::smoothed) above
// `divergence_factor` times its lowest value after `divergence_warmup` iterations. The test loss is
// plain cross-entropy, whatever label smoothing the training loss uses.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "optim/evaluate.h"
#include "optim/observer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
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
  const std::atomic<bool>* stop = nullptr;  // polled after each iteration (SIGINT)
  // Between backward and the step: sums gradients over processes (DESIGN.md §8). Unset alone.
  std::function<void(const std::vector<Parameter*>&)> gradient_hook;
  nlohmann::json config;  // the resolved experiment config, stored in every checkpoint
};

class Solver {
 public:
  Solver(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer, const Schedule& lr,
         const Schedule& momentum, Loader& train, Loader* test, SolverOptions options);

  // Observers get every record, in the order they were added; they must outlive run(). One added
  // after resume() gets its state from the checkpoint (TrainObserver::restore).
  void add_observer(TrainObserver& observer);
  // Called after every iteration (after the observers); returning false stops run().
  void on_iteration(std::function<bool(const IterationRecord&)> callback) {
    callback_ = std::move(callback);
  }

  // Trains until max_iter (or a stop). Returns why it ended; message() says more.
  SolverStatus run();

  // Writes a checkpoint of the current state into run_dir; returns its folder.
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

 private:
  void resume_from(const std::string& folder);
  IterationRecord train_iteration();
  Batch next_batch();
  bool diverged(const IterationRecord& r);  // sets message_
  SolverStatus interrupt();
  bool eval_due() const;
  bool checkpoint_due() const;

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
};

}  // namespace minidl
