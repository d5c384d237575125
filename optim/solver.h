// The Solver: the training loop of minidl_train (DESIGN.md §7), one process.
//
//   loader -> forward -> loss -> backward -> gradient hook (all-reduce; no-op alone) -> fused SGD
//   step with the schedule's lr(it) and momentum(it); evaluation on the test loader each epoch (or
//   every N iterations); metrics.csv rows; checkpoints (optim/checkpoint.h) each epoch (or every N)
//   and at the end; resume that continues bit-identically on the CPU; a stop flag (SIGINT) that
//   ends cleanly with a checkpoint; divergence (a non-finite or exploding loss) that stops with a
//   message.
//
// Exploding: the smoothed training loss (exponential average, beta 0.98, bias-corrected) rising
// above `divergence_factor` times its lowest value after `divergence_warmup` iterations.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "data/loader.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "optim/metrics.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace minidl {

struct SolverOptions {
  int64_t max_iter = 0;    // iterations to train in all (a resumed run continues to it)
  int64_t eval_every = 0;  // iterations between evaluations; 0: at each epoch's end
  int64_t log_every = 50;  // iterations between metrics rows (and plain progress lines)
  int64_t checkpoint_every =
      0;                      // iterations between checkpoints; 0: each epoch; < 0: at the end only
  int keep_checkpoints = 3;   // newest kept; 0 keeps all
  int64_t eval_batches = -1;  // batches per evaluation; -1: the whole test set
  std::string run_dir;        // where metrics.csv and checkpoints/ go; "" writes nothing
  double divergence_factor = 10.0;
  int64_t divergence_warmup = 20;
  bool progress = true;  // a progress display on progress_out
  std::FILE* progress_out = stdout;
  std::FILE* log_out = nullptr;  // plain progress lines and messages also go here (RUN/log.txt)
  const std::atomic<bool>* stop = nullptr;  // polled after each iteration (SIGINT)
  // Between backward and the step: sums gradients over processes (DESIGN.md §8). Unset alone.
  std::function<void(const std::vector<Parameter*>&)> gradient_hook;
  nlohmann::json config;  // the resolved experiment config, stored in every checkpoint
};

enum class SolverStatus { finished, interrupted, diverged, stopped_by_callback };

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // mean loss, accuracies in [0, 1]
  int64_t samples = 0;
};

// What an iteration did, for callbacks (the LR range test) and logs.
struct IterationInfo {
  int64_t iteration;  // iterations completed, this one included
  double lr, momentum, loss, smoothed_loss, top1;
  bool step_applied;  // false: a non-finite gradient skipped the step
};

class Solver {
 public:
  Solver(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer, const Schedule& lr,
         const Schedule& momentum, Loader& train, Loader* test, SolverOptions options);
  ~Solver();

  // Trains until max_iter (or a stop). Returns why it ended; message() says more.
  SolverStatus run();
  // Called after every iteration; returning false stops run() (stopped_by_callback).
  void on_iteration(std::function<bool(const IterationInfo&)> callback) {
    callback_ = std::move(callback);
  }

  // Mean loss and top-1/top-5 accuracy over `loader` (max_batches: -1 = one epoch), in eval mode;
  // the model returns to its previous mode.
  EvalResult evaluate(Loader& loader, int64_t max_batches = -1);

  // Writes a checkpoint of the current state into run_dir; returns its folder.
  std::string save_checkpoint();
  // Restores model, optimiser, iteration, loader position and RNG state from a checkpoint folder or
  // a run directory (its newest checkpoint).
  void resume(const std::string& path);

  int64_t iteration() const { return iteration_; }
  const std::string& message() const { return message_; }
  const EvalResult& last_eval() const { return last_eval_; }
  int64_t skipped_steps() const { return optimizer_.skipped_steps(); }

 private:
  IterationInfo train_iteration();
  void log_row(bool with_eval);
  bool checkpoint_due() const;
  bool eval_due() const;
  nlohmann::json rng_state();
  void restore_rng_state(const nlohmann::json& j);

  Module& model_;
  SoftmaxCrossEntropy& loss_;
  Sgd& optimizer_;
  const Schedule& lr_;
  const Schedule& momentum_;
  Loader& train_;
  Loader* test_;
  SolverOptions options_;
  std::function<bool(const IterationInfo&)> callback_;
  std::unique_ptr<MetricsWriter> metrics_;
  int64_t iteration_ = 0;
  int64_t iters_per_epoch_ = 1;
  int64_t resumed_from_ = -1;
  std::string message_;
  EvalResult last_eval_;
  // Running figures since the last metrics row, and the smoothed loss for divergence.
  double row_loss_ = 0, row_correct_ = 0, row_samples_ = 0, row_seconds_ = 0;
  double smooth_ = 0, smooth_min_ = 0;
  int64_t smooth_n_ = 0;
  double elapsed_ = 0;
};

}  // namespace minidl
