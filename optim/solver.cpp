#include "optim/solver.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "optim/checkpoint.h"

namespace minidl {

namespace {

using Clock = std::chrono::steady_clock;

std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Solver::Solver(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer, const Schedule& lr,
               const Schedule& momentum, Loader& train, Loader* test, SolverOptions options)
    : model_(model),
      loss_(loss),
      optimizer_(optimizer),
      lr_(lr),
      momentum_(momentum),
      train_(train),
      test_(test),
      options_(std::move(options)),
      iters_per_epoch_(std::max<int64_t>(train.batches_per_epoch(), 1)) {
  MINIDL_CHECK(options_.max_iter > 0, "solver: max_iter must be positive, got ", options_.max_iter);
}

SolverStatus Solver::run() {
  SolverStatus status = SolverStatus::finished;
  while (state_.iteration < options_.max_iter && status == SolverStatus::finished) {
    IterationRecord r = train_iteration();
    r.diverged = diverged(r);
    if (!r.diverged && eval_due()) {
      last_eval_ = evaluate(model_, eval_loss_, *test_, options_.eval_batches);
      r.eval = &last_eval_;
    }
    for (TrainObserver* o : observers_) o->on_iteration(r);
    if (r.diverged) {
      status = SolverStatus::diverged;  // no checkpoint of a diverged model
    } else {
      if (checkpoint_due()) save_checkpoint();
      if (callback_ && !callback_(r))
        status = SolverStatus::stopped_by_callback;
      else if (options_.stop && options_.stop->load())
        status = interrupt();
    }
  }
  if (status == SolverStatus::finished)
    message_ = "finished " + std::to_string(state_.iteration) + " iterations" +
               (test_ ? ", test loss " + fmt("%.4f", last_eval_.loss) + ", top-1 " +
                            fmt("%.2f%%", 100 * last_eval_.top1)
                      : std::string());
  for (TrainObserver* o : observers_) o->on_end(status, message_);
  return status;
}

// One forward/backward/step. The loss is read on the host every iteration: divergence and the
// range test need it, and on the CPU it costs nothing.
IterationRecord Solver::train_iteration() {
  Clock::time_point t0 = Clock::now();
  IterationRecord r;
  r.lr = lr_.value(state_.iteration);
  r.momentum = momentum_.value(state_.iteration);
  Batch batch = next_batch();
  model_.train();
  model_.zero_grad();
  Tensor logits = model_.forward(batch.images);
  Tensor loss = loss_.forward(logits, batch.labels);
  model_.backward(loss_.backward());
  if (options_.gradient_hook) options_.gradient_hook(optimizer_.parameters());
  r.step_applied = optimizer_.step(r.lr, r.momentum);
  r.loss = loss.item<double>();
  const int64_t n = batch.labels.numel(), correct = loss_.top1();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  state_.iteration += 1;
  state_.skipped_steps += r.step_applied ? 0 : 1;
  r.smoothed_loss = state_.smoothed.add(r.loss);
  state_.totals.loss_sum += r.loss * n;
  state_.totals.correct += correct;
  state_.totals.samples += n;
  state_.totals.seconds += seconds;

  r.iteration = state_.iteration;
  r.iters_per_epoch = iters_per_epoch_;
  r.max_iter = options_.max_iter;
  r.top1 = static_cast<double>(correct) / std::max<int64_t>(n, 1);
  r.totals = state_.totals;
  r.state = &state_;
  return r;
}

// The next training batch. A batch that cannot be built (a corrupt image met mid-run) ends the
// run before anything of this iteration changed the model: a checkpoint of that state is written
// first, so the run resumes exactly there once the file is fixed or removed.
Batch Solver::next_batch() {
  try {
    return train_.next();
  } catch (const Error& e) {
    if (options_.run_dir.empty()) throw;
    std::string where = save_checkpoint();
    MINIDL_FAIL(e.what(), "\nat iteration ", state_.iteration, ": checkpoint ", where,
                " written; fix or remove the file, then continue with --resume ", options_.run_dir);
  }
}

bool Solver::diverged(const IterationRecord& r) {
  if (!std::isfinite(r.loss)) {
    message_ = "training diverged: the loss is " + fmt("%g", r.loss) + " at iteration " +
               std::to_string(r.iteration) + " (lr " + fmt("%.4g", r.lr) +
               "); try a smaller learning rate";
    return true;
  }
  const SmoothedLoss& s = state_.smoothed;
  if (s.count > options_.divergence_warmup &&
      r.smoothed_loss > options_.divergence_factor * s.minimum) {
    message_ = "training diverged: the smoothed loss " + fmt("%.4g", r.smoothed_loss) +
               " exceeds " + fmt("%g", options_.divergence_factor) + "x its minimum " +
               fmt("%.4g", s.minimum) + " at iteration " + std::to_string(r.iteration) + " (lr " +
               fmt("%.4g", r.lr) + ")";
    return true;
  }
  return false;
}

SolverStatus Solver::interrupt() {
  message_ = "interrupted at iteration " + std::to_string(state_.iteration);
  if (!options_.run_dir.empty())
    message_ +=
        "; checkpoint " + save_checkpoint() + " (continue with --resume " + options_.run_dir + ")";
  return SolverStatus::interrupted;
}

bool Solver::eval_due() const {
  if (!test_) return false;
  if (state_.iteration == options_.max_iter) return true;
  int64_t every = options_.eval_every > 0 ? options_.eval_every : iters_per_epoch_;
  return state_.iteration % every == 0;
}

bool Solver::checkpoint_due() const {
  if (options_.run_dir.empty()) return false;
  if (state_.iteration == options_.max_iter) return true;
  if (options_.checkpoint_every < 0) return false;
  int64_t every = options_.checkpoint_every > 0 ? options_.checkpoint_every : iters_per_epoch_;
  return state_.iteration % every == 0;
}

// ---- checkpoints ----

void Solver::add_observer(TrainObserver& observer) {
  observers_.push_back(&observer);
  const std::string name = observer.name();
  if (!name.empty() && observer_states_.is_object() && observer_states_.contains(name))
    observer.restore(observer_states_.at(name));
}

std::string Solver::save_checkpoint() {
  MINIDL_CHECK(!options_.run_dir.empty(), "solver: no run directory to write a checkpoint into");
  nlohmann::json observers = nlohmann::json::object();
  for (const TrainObserver* o : observers_)
    if (!o->name().empty()) observers[o->name()] = o->state();
  Checkpoint c;
  c.model = model_.state_dict();
  c.optimizer = optimizer_.state_dict();
  c.state = {{"format", kCheckpointFormat},
             {"train_state", state_.to_json()},
             {"observers", observers},
             {"lr_schedule", lr_.spec()},
             {"momentum_schedule", momentum_.spec()},
             {"config", options_.config}};
  std::string dir = minidl::save_checkpoint(options_.run_dir, state_.iteration, c);
  prune_checkpoints(options_.run_dir, options_.keep_checkpoints);
  return dir;
}

std::string Solver::resume(const std::string& path, std::vector<std::string>* skipped) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(path) / "state.json")) {  // one checkpoint folder: that one or nothing
    resume_from(path);
    return path;
  }
  std::vector<std::string> folders = list_checkpoints(path), reasons;
  MINIDL_CHECK(!folders.empty(), "'", path, "' holds no checkpoint (", path, "/checkpoints)");
  for (auto it = folders.rbegin(); it != folders.rend(); ++it) {
    try {
      resume_from(*it);
      if (skipped) *skipped = reasons;
      return *it;
    } catch (const Error& e) {
      reasons.push_back(*it + ": " + e.what());
    }
  }
  std::string all;
  for (const std::string& r : reasons) all += "\n  " + r;
  MINIDL_FAIL("no checkpoint of '", path, "' can be resumed:", all);
}

// Everything is read and checked before anything is changed, so a checkpoint that does not fit
// leaves the Solver, the model and the optimiser as they were.
void Solver::resume_from(const std::string& folder) {
  Checkpoint c = load_checkpoint(folder);
  check_checkpoint_format(c, folder);
  for (const auto& [key, schedule] :
       {std::pair{"lr_schedule", &lr_}, {"momentum_schedule", &momentum_}}) {
    std::string spec = c.state.value(key, std::string());
    MINIDL_CHECK(spec == schedule->spec(), "checkpoint '", folder, "' was trained with ", key, " ",
                 spec, ", not ", schedule->spec());
  }
  check_checkpoint_config(c, options_.config, folder);
  TrainState state;
  try {
    state = TrainState::from_json(c.state.at("train_state"));
  } catch (const std::exception& e) {
    MINIDL_FAIL("checkpoint '", folder, "': ", e.what());
  }
  MINIDL_CHECK(state.iteration <= options_.max_iter, "checkpoint '", folder, "' is at iteration ",
               state.iteration, ", past this run's ", options_.max_iter);
  model_.check_state_dict(c.model);
  optimizer_.check_state_dict(c.optimizer);
  model_.load_state_dict(c.model);
  optimizer_.load_state_dict(c.optimizer);
  state_ = state;
  observer_states_ = c.state.value("observers", nlohmann::json::object());
  for (TrainObserver* o : observers_)
    if (!o->name().empty() && observer_states_.contains(o->name()))
      o->restore(observer_states_.at(o->name()));
  train_.set_position(loader_position(state_.iteration, iters_per_epoch_));
}

}  // namespace minidl
