#include "optim/solver.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/fill.h"
#include "kernels/elementwise.h"
#include "kernels/loss_scale.h"
#include "kernels/step_log.h"
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
  MINIDL_CHECK(options_.sync_every >= 1, "solver: sync_every must be >= 1, got ",
               options_.sync_every);
  if (options_.dynamic_loss_scale) {
    MINIDL_CHECK(options_.initial_loss_scale > 0 && options_.loss_scale_growth_interval > 0,
                 "solver: the loss scale and its growth interval must be positive");
    state_.loss_scale.enabled = true;
    state_.loss_scale.scale = options_.initial_loss_scale;
    state_.loss_scale.growth_interval = options_.loss_scale_growth_interval;
  }
  if (options_.cuda_graph) {
    const char* host = options_.comm            ? "data parallel (the all-reduce's buckets)"
                       : options_.gradient_hook ? "a gradient hook"
                                                : nullptr;
    MINIDL_CHECK(!host, "solver: cuda_graph cannot capture a step with ", host,
                 ": it runs host code between the kernels");
    const std::string why = step_graph_obstacle(model_);
    MINIDL_CHECK(why.empty(), "solver: cuda_graph cannot capture this model's step: ", why);
    graph_ = std::make_unique<StepGraph>(optimizer_.device());
  }
  if (!options_.comm) return;
  std::shared_ptr<ParameterArena> arena = model_.arena();
  MINIDL_CHECK(arena.get() == &optimizer_.arena(),
               "solver: the optimiser was built on another arena than the model's");
  reducer_ = std::make_unique<GradReducer>(*options_.comm, arena, options_.bucket_bytes);
  const std::vector<Parameter*>& params = arena->parameters();
  for (size_t i = 0; i < params.size(); ++i) param_index_[params[i]] = i;
  if (options_.overlap)
    model_.set_backward_hook([this](Module& m) {
      for (Parameter* p : m.own_parameters()) reducer_->mark_ready(param_index_.at(p));
    });
}

Solver::~Solver() {
  if (reducer_) model_.set_backward_hook(nullptr);
}

SolverStatus Solver::run() {
  SolverStatus status = SolverStatus::finished;
  // Every rank starts from rank 0's weights: a fresh run's initialisations agree already (one
  // seed), but a replica must never drift from a difference in setup.
  if (options_.comm) broadcast_state(true);
  while (state_.iteration < options_.max_iter && status == SolverStatus::finished) {
    launch_iteration();
    if (!read_due()) continue;
    for (const Launched& l : read_window()) {
      // After a stop, the rest of the window is counted (the model has taken those steps) but
      // not reported.
      if (status != SolverStatus::finished) {
        settle(l);
        continue;
      }
      IterationRecord r = settle(l);  // state_ is at r's iteration now
      r.diverged = diverged(r);
      if (!r.diverged && eval_due(state_.iteration)) {
        last_eval_ = evaluate_test();
        r.eval = &last_eval_;
      }
      for (TrainObserver* o : observers_) o->on_iteration(r);
      if (r.diverged) {
        status = SolverStatus::diverged;  // no checkpoint of a diverged model
        continue;
      }
      if (checkpoint_due(state_.iteration)) save_checkpoint();
      if (callback_ && !callback_(r)) status = SolverStatus::stopped_by_callback;
    }
    if (status == SolverStatus::finished && stop_requested_) status = interrupt();
  }
  if (status == SolverStatus::finished)
    message_ = "finished " + std::to_string(state_.iteration) + " iterations" +
               (test_ ? ", test loss " + fmt("%.4f", last_eval_.loss) + ", top-1 " +
                            fmt("%.2f%%", 100 * last_eval_.top1)
                      : std::string());
  for (TrainObserver* o : observers_) o->on_end(status, message_);
  return status;
}

// One forward/backward/step, enqueued: its loss, top-1 hits and skip flag go into the step log on
// the device, and nothing here waits for the device.
void Solver::launch_iteration() {
  if (window_.empty()) window_start_ = Clock::now();
  const int64_t it = state_.iteration + static_cast<int64_t>(window_.size());
  Launched l;
  l.lr = lr_.value(it);
  l.momentum = momentum_.value(it);
  Batch batch = next_batch();
  model_.train();
  // f16: the loss gradient scaled up so that small gradients survive, the step scaling back down;
  // an overflow skips the step and halves the scale. The scale is the device's (loss_scale_,
  // uploaded from the host's LossScale at the first step, a resumed run's included), updated there
  // after each step; the host's LossScale follows as each step is read.
  const bool scaled = state_.loss_scale.enabled;
  if (scaled && !loss_scale_.defined())
    loss_scale_ = loss_scale_state(state_.loss_scale.scale, state_.loss_scale.growth_tracker,
                                   optimizer_.device());
  // The host's per-step values, written to the device before the step runs (a graph replays the
  // step's kernels with their launch arguments frozen); the loss scale's grad_scale is rewritten
  // on the device before the step reads it.
  auto before = [&] { optimizer_.write_live_scalars(l.lr, l.momentum, 1.0); };
  // The step itself: only kernels from here on, nothing the host waits for.
  auto step = [&](const Tensor& images, const Tensor& labels) {
    model_.zero_grad();
    Tensor logits = model_.forward(images);
    Tensor loss = loss_.forward(logits, labels);
    Tensor dlogits = loss_.backward();
    if (scaled) loss_scale_apply(dlogits, loss_scale_);
    model_.backward(dlogits);
    if (reducer_) reduce_gradients();
    if (options_.gradient_hook) options_.gradient_hook(optimizer_.parameters());
    const bool has_step = optimizer_.skip_flag().defined();  // undefined without parameters
    if (scaled && has_step) loss_scale_prepare(loss_scale_, optimizer_.live_scalars());
    optimizer_.launch_live_step();
    if (scaled && has_step)
      loss_scale_update(loss_scale_, optimizer_.skip_flag(), state_.loss_scale.growth_interval);
    if (!step_log_.defined()) {
      step_log_ = Tensor::zeros({options_.sync_every, kStepLogFields}, DType::f64, loss.device());
      step_log_cursor_ = Tensor::zeros({1}, DType::i64, loss.device());
    }
    step_log_record(loss, loss_.ranks(), optimizer_.skip_flag(), step_log_, step_log_cursor_);
  };
  if (graph_) {
    graph_->run(batch.images, batch.labels, before, step);
  } else {
    before();
    step(batch.images, batch.labels);
  }
  l.samples = static_cast<double>(batch.labels.numel());
  window_.push_back(l);
}

// A read is due at every multiple of sync_every (where log_every's rows fall when they are
// equal), and wherever the host must know where the run stands before going on: an evaluation, a
// checkpoint, the end, and the torch form's first applied step.
bool Solver::read_due() const {
  const int64_t launched = state_.iteration + static_cast<int64_t>(window_.size());
  return launched % options_.sync_every == 0 ||
         launched == options_.max_iter || eval_due(launched) || checkpoint_due(launched) ||
         optimizer_.first_step_pending();
}

// One copy of the step log to the host (the only wait for the device); data parallel, one
// all_gather of the window's figures and the stop flags.
std::vector<Solver::Launched> Solver::read_window() {
  std::vector<Launched> window = std::move(window_);
  window_.clear();
  const std::vector<double> log = step_log_.to_vector<double>();
  const auto recorded = step_log_cursor_.item<int64_t>();
  MINIDL_CHECK(recorded == static_cast<int64_t>(window.size()), "Solver: the step log holds ",
               recorded, " records, ", window.size(), " steps were launched");
  fill(step_log_cursor_, 0);  // queued: the next window's records start at row 0
  for (size_t i = 0; i < window.size(); ++i) {
    window[i].loss = log[i * kStepLogFields];
    window[i].hits = log[i * kStepLogFields + 1];
    window[i].applied = log[i * kStepLogFields + 2] == 0;
  }
  stop_requested_ = options_.stop && options_.stop->load();
  if (options_.comm) {  // the global batches' loss and accuracy, and any rank's stop
    std::vector<double> mine;
    for (const Launched& l : window) mine.insert(mine.end(), {l.loss * l.samples, l.hits, l.samples});
    mine.push_back(stop_requested_ ? 1.0 : 0.0);
    const std::vector<double> all = options_.comm->all_gather(mine);
    const size_t stride = mine.size();
    for (size_t i = 0; i < window.size(); ++i) {
      double loss_sum = 0, hits = 0, samples = 0;
      for (size_t k = 3 * i; k < all.size(); k += stride)
        loss_sum += all[k], hits += all[k + 1], samples += all[k + 2];
      window[i].loss = loss_sum / samples, window[i].hits = hits, window[i].samples = samples;
    }
    for (size_t k = stride - 1; k < all.size(); k += stride)
      stop_requested_ = stop_requested_ || all[k] != 0;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - window_start_).count();
  for (Launched& l : window) l.seconds = seconds / static_cast<double>(window.size());
  return window;
}

IterationRecord Solver::settle(const Launched& l) {
  IterationRecord r;
  r.lr = l.lr;
  r.momentum = l.momentum;
  r.loss = l.loss;
  r.step_applied = l.applied;
  optimizer_.record_outcome(r.step_applied);
  if (state_.loss_scale.enabled) state_.loss_scale.update(r.step_applied);
  const auto n = static_cast<int64_t>(l.samples), hits = static_cast<int64_t>(l.hits);
  state_.iteration += 1;
  state_.skipped_steps += r.step_applied ? 0 : 1;
  r.smoothed_loss = state_.smoothed.add(r.loss);
  state_.totals.loss_sum += r.loss * static_cast<double>(n);
  state_.totals.correct += hits;
  state_.totals.samples += n;
  state_.totals.seconds += l.seconds;
  r.iteration = state_.iteration;
  r.iters_per_epoch = iters_per_epoch_;
  r.max_iter = options_.max_iter;
  r.top1 = static_cast<double>(hits) / std::max<int64_t>(n, 1);
  r.totals = state_.totals;
  r.state = &state_;
  return r;
}

// Every parameter not marked by the backward hook (all of them without overlap; a root's own) is
// marked now, then the reducer waits for its buckets: the gradients are the ranks' average.
void Solver::reduce_gradients() {
  reducer_->mark_all_ready();
  reducer_->finish();
  // NCCL: blocks until the buckets are done or late (the step's host read behind a hung all-reduce
  // would never return, and never time out); MPI and local: nothing left to wait for.
  options_.comm->wait_all();
}

void Solver::broadcast_state(bool parameters) {
  Communicator& comm = *options_.comm;
  if (parameters)
    for (const ArenaGroup& g : model_.arena()->groups()) comm.broadcast(g.values, 0);
  for (Buffer* b : model_.buffers())
    if (!b->random_state) comm.broadcast(b->value, 0);
}

// The test set's loss and accuracy. Data parallel: each rank evaluates its shard (the test loader
// is sharded exactly, ShardMode::split) with rank 0's buffers, and the totals are summed, so the
// figures are rank 0's model's over the whole test set.
EvalResult Solver::evaluate_test() {
  if (!options_.comm) return evaluate(model_, eval_loss_, *test_, options_.eval_batches);
  broadcast_state(false);
  EvalResult mine = evaluate(model_, eval_loss_, *test_, options_.eval_batches);
  std::vector<double> all = options_.comm->all_gather(
      std::vector<double>{mine.loss_sum, static_cast<double>(mine.correct1),
                          static_cast<double>(mine.correct5), static_cast<double>(mine.samples)});
  double loss_sum = 0, c1 = 0, c5 = 0, samples = 0;
  for (size_t k = 0; k < all.size(); k += 4)
    loss_sum += all[k], c1 += all[k + 1], c5 += all[k + 2], samples += all[k + 3];
  return eval_from_totals(loss_sum, static_cast<int64_t>(c1), static_cast<int64_t>(c5),
                          static_cast<int64_t>(samples));
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

bool Solver::eval_due(int64_t iteration) const {
  if (!test_) return false;
  if (iteration == options_.max_iter) return true;
  int64_t every = options_.eval_every > 0 ? options_.eval_every : iters_per_epoch_;
  return iteration % every == 0;
}

bool Solver::checkpoint_due(int64_t iteration) const {
  if (options_.run_dir.empty()) return false;
  if (iteration == options_.max_iter) return true;
  if (options_.checkpoint_every < 0) return false;
  int64_t every = options_.checkpoint_every > 0 ? options_.checkpoint_every : iters_per_epoch_;
  return iteration % every == 0;
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
  MINIDL_CHECK(window_.empty(), "solver: a checkpoint between reads of the step log");
  nlohmann::json observers = nlohmann::json::object();
  for (const TrainObserver* o : observers_)
    if (!o->name().empty()) observers[o->name()] = o->state();
  if (rank() != 0) return checkpoint_folder(options_.run_dir, state_.iteration);
  Checkpoint c;
  c.model = model_.state_dict();
  c.optimizer = optimizer_.state_dict();
  c.state = {{"format", kCheckpointFormat},
             {"train_state", state_.to_json()},
             {"observers", observers},
             {"lr_schedule", lr_.spec()},
             {"momentum_schedule", momentum_.spec()},
             {"config", options_.config},
             {"world_size", world_size()}};
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
  MINIDL_CHECK(state.loss_scale.enabled == options_.dynamic_loss_scale, "checkpoint '", folder,
               "' was trained ", state.loss_scale.enabled ? "with" : "without",
               " dynamic loss scaling (f16), this run ",
               options_.dynamic_loss_scale ? "with" : "without", " it");
  model_.check_state_dict(c.model);
  optimizer_.check_state_dict(c.optimizer);
  model_.load_state_dict(c.model);
  optimizer_.load_state_dict(c.optimizer);
  state_ = state;
  resumed_world_size_ = c.state.value("world_size", 1);
  observer_states_ = c.state.value("observers", nlohmann::json::object());
  for (TrainObserver* o : observers_)
    if (!o->name().empty() && observer_states_.contains(o->name()))
      o->restore(observer_states_.at(o->name()));
  train_.set_position(loader_position(state_.iteration, iters_per_epoch_));
}

}  // namespace minidl
