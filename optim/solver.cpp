#include "optim/solver.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "layers/dropout.h"
#include "optim/checkpoint.h"
#include "optim/progress.h"

namespace minidl {

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

static std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

Solver::Solver(Module& model, SoftmaxCrossEntropy& loss, Sgd& optimizer, const Schedule& lr,
               const Schedule& momentum, Loader& train, Loader* test, SolverOptions options)
    : model_(model),
      loss_(loss),
      optimizer_(optimizer),
      lr_(lr),
      momentum_(momentum),
      train_(train),
      test_(test),
      options_(std::move(options)) {
  MINIDL_CHECK(options_.max_iter > 0, "solver: max_iter must be positive, got ", options_.max_iter);
  iters_per_epoch_ = std::max<int64_t>(train_.batches_per_epoch(), 1);
}

Solver::~Solver() = default;

// One forward/backward/step. The loss is read on the host every iteration: divergence and the
// range test need it, and on the CPU it costs nothing.
IterationInfo Solver::train_iteration() {
  Batch batch = train_.next();
  double lr = lr_.value(iteration_), mom = momentum_.value(iteration_);
  model_.train();
  model_.zero_grad();
  Tensor logits = model_.forward(batch.images);
  Tensor loss = loss_.forward(logits, batch.labels);
  model_.backward(loss_.backward());
  if (options_.gradient_hook) options_.gradient_hook(optimizer_.parameters());
  bool applied = optimizer_.step(lr, mom);
  double value = loss.item<double>();
  int64_t n = batch.labels.numel();
  int64_t correct = loss_.top1();
  ++iteration_;

  // Smoothed loss (fastai's: exponential average with bias correction) for divergence checks.
  ++smooth_n_;
  smooth_ = 0.98 * smooth_ + 0.02 * value;
  double smoothed = smooth_ / (1 - std::pow(0.98, static_cast<double>(smooth_n_)));
  if (smooth_n_ == 1 || smoothed < smooth_min_) smooth_min_ = smoothed;

  row_loss_ += value * n;
  row_correct_ += correct;
  row_samples_ += n;
  return {iteration_, lr,       mom,
          value,      smoothed, static_cast<double>(correct) / std::max<int64_t>(n, 1),
          applied};
}

bool Solver::eval_due() const {
  if (!test_) return false;
  if (iteration_ == options_.max_iter) return true;
  return options_.eval_every > 0 ? iteration_ % options_.eval_every == 0
                                 : iteration_ % iters_per_epoch_ == 0;
}

bool Solver::checkpoint_due() const {
  if (options_.run_dir.empty()) return false;
  if (iteration_ == options_.max_iter) return true;
  if (options_.checkpoint_every < 0) return false;
  int64_t every = options_.checkpoint_every > 0 ? options_.checkpoint_every : iters_per_epoch_;
  return iteration_ % every == 0;
}

void Solver::log_row(bool with_eval) {
  if (!metrics_) return;
  MetricsRow r;
  r.iteration = iteration_;
  r.epoch = static_cast<double>(iteration_) / iters_per_epoch_;
  int64_t last = std::max<int64_t>(iteration_ - 1, 0);
  r.lr = lr_.value(last);
  r.momentum = momentum_.value(last);
  if (row_samples_ > 0) {
    r.train_loss = row_loss_ / row_samples_;
    r.train_acc = row_correct_ / row_samples_;
    r.img_per_s = row_seconds_ > 0 ? row_samples_ / row_seconds_ : NAN;
  }
  if (with_eval) {
    r.test_loss = last_eval_.loss;
    r.test_acc = last_eval_.top1;
    r.test_top5 = last_eval_.top5;
  }
  r.elapsed_s = elapsed_;
  metrics_->write(r);
  row_loss_ = row_correct_ = row_samples_ = row_seconds_ = 0;
}

SolverStatus Solver::run() {
  if (!options_.run_dir.empty()) {
    std::filesystem::create_directories(options_.run_dir);
    metrics_ = std::make_unique<MetricsWriter>(options_.run_dir + "/metrics.csv", resumed_from_);
  }
  bool interactive = options_.progress && ProgressBar::is_terminal(options_.progress_out);
  std::unique_ptr<ProgressBar> bar, log_bar;  // log_bar: plain lines into options_.log_out
  int64_t epochs = (options_.max_iter + iters_per_epoch_ - 1) / iters_per_epoch_;
  double bar_loss = 0, bar_correct = 0, bar_samples = 0;
  auto fields = [&](const IterationInfo* info) {
    ProgressFields f;
    if (bar_samples > 0) {
      f.emplace_back("loss", fmt("%.4f", bar_loss / bar_samples));
      f.emplace_back("acc", fmt("%.2f%%", 100.0 * bar_correct / bar_samples));
    }
    if (info) {
      f.emplace_back("lr", fmt("%.4g", info->lr));
      f.emplace_back("mom", fmt("%.3f", info->momentum));
    }
    return f;
  };
  SolverStatus status = SolverStatus::finished;
  Clock::time_point epoch_start = Clock::now();
  while (iteration_ < options_.max_iter) {
    int64_t epoch = iteration_ / iters_per_epoch_;
    if (!bar && options_.progress) {
      int64_t in_epoch = std::min(iters_per_epoch_, options_.max_iter - epoch * iters_per_epoch_);
      bar = std::make_unique<ProgressBar>(
          options_.progress_out, interactive, in_epoch,
          "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), options_.log_every);
      bar_loss = bar_correct = bar_samples = 0;
      epoch_start = Clock::now();
    }
    if (!log_bar && options_.log_out) {
      int64_t in_epoch = std::min(iters_per_epoch_, options_.max_iter - epoch * iters_per_epoch_);
      log_bar = std::make_unique<ProgressBar>(
          options_.log_out, false, in_epoch,
          "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), options_.log_every);
    }
    Clock::time_point t0 = Clock::now();
    IterationInfo info = train_iteration();
    double dt = seconds_since(t0);
    row_seconds_ += dt;
    elapsed_ += dt;
    int64_t n = train_.options().batch_size;
    bar_loss += info.loss * n;
    bar_correct += info.top1 * n;
    bar_samples += n;
    if (!info.step_applied)
      for (std::FILE* f : {stderr, options_.log_out})
        if (f)
          std::fprintf(f, "iteration %lld: non-finite gradient, step skipped (%lld so far)\n",
                       static_cast<long long>(iteration_),
                       static_cast<long long>(optimizer_.skipped_steps()));
    if (bar || log_bar) {
      ProgressFields f = fields(&info);
      f.emplace_back("img/s",
                     fmt("%.0f", bar_samples / std::max(seconds_since(epoch_start), 1e-9)));
      if (bar) bar->update(iteration_ - epoch * iters_per_epoch_, f);
      if (log_bar) log_bar->update(iteration_ - epoch * iters_per_epoch_, f);
    }

    if (!std::isfinite(info.loss)) {
      message_ = "training diverged: the loss is " + fmt("%g", info.loss) + " at iteration " +
                 std::to_string(iteration_) + " (lr " + fmt("%.4g", info.lr) +
                 "); try a smaller learning rate";
      status = SolverStatus::diverged;
    } else if (smooth_n_ > options_.divergence_warmup &&
               info.smoothed_loss > options_.divergence_factor * smooth_min_) {
      message_ = "training diverged: the smoothed loss " + fmt("%.4g", info.smoothed_loss) +
                 " exceeds " + fmt("%g", options_.divergence_factor) + "x its minimum " +
                 fmt("%.4g", smooth_min_) + " at iteration " + std::to_string(iteration_) +
                 " (lr " + fmt("%.4g", info.lr) + ")";
      status = SolverStatus::diverged;
    }
    if (status == SolverStatus::diverged) break;  // no checkpoint of a diverged model

    bool evaluated = false;
    if (eval_due()) {
      last_eval_ = evaluate(*test_, options_.eval_batches);
      evaluated = true;
    }
    if (evaluated || (options_.log_every > 0 && iteration_ % options_.log_every == 0))
      log_row(evaluated);
    bool epoch_end = iteration_ % iters_per_epoch_ == 0 || iteration_ == options_.max_iter;
    if ((bar || log_bar) && epoch_end) {
      ProgressFields f = fields(&info);
      f.emplace_back("img/s",
                     fmt("%.0f", bar_samples / std::max(seconds_since(epoch_start), 1e-9)));
      if (evaluated) {
        f.emplace_back("test_loss", fmt("%.4f", last_eval_.loss));
        f.emplace_back("test_acc", fmt("%.2f%%", 100 * last_eval_.top1));
      }
      if (bar) bar->finish(f);
      if (log_bar) log_bar->finish(f);
      bar.reset();
      log_bar.reset();
    }
    if (checkpoint_due()) save_checkpoint();
    if (callback_ && !callback_(info)) {
      status = SolverStatus::stopped_by_callback;
      break;
    }
    if (options_.stop && options_.stop->load()) {
      if (bar) bar->finish(fields(&info));
      if (log_bar) log_bar->finish(fields(&info));
      bar.reset();
      log_bar.reset();
      if (!options_.run_dir.empty()) {
        std::string where = save_checkpoint();
        message_ = "interrupted at iteration " + std::to_string(iteration_) + "; checkpoint " +
                   where + " (continue with --resume " + options_.run_dir + ")";
      } else {
        message_ = "interrupted at iteration " + std::to_string(iteration_);
      }
      status = SolverStatus::interrupted;
      break;
    }
  }
  if (bar) bar->finish(fields(nullptr));
  if (log_bar) log_bar->finish(fields(nullptr));
  if (status == SolverStatus::finished)
    message_ = "finished " + std::to_string(iteration_) + " iterations" +
               (test_ ? ", test loss " + fmt("%.4f", last_eval_.loss) + ", top-1 " +
                            fmt("%.2f%%", 100 * last_eval_.top1)
                      : std::string());
  return status;
}

EvalResult Solver::evaluate(Loader& loader, int64_t max_batches) {
  bool was_training = model_.training();
  model_.eval();
  int64_t batches = max_batches < 0 ? loader.batches_per_epoch()
                                    : std::min(max_batches, loader.batches_per_epoch());
  loader.set_position({0, 0});  // every evaluation sees the same samples
  SoftmaxCrossEntropy eval_loss;
  EvalResult r;
  double loss_sum = 0, top1 = 0, top5 = 0;
  for (int64_t b = 0; b < batches; ++b) {
    Batch batch = loader.next();
    Tensor logits = model_.forward(batch.images);
    int64_t n = batch.labels.numel();
    loss_sum += eval_loss.forward(logits, batch.labels).item<double>() * n;
    top1 += eval_loss.top1();
    top5 += eval_loss.correct(std::min<int64_t>(5, logits.size(1)));
    r.samples += n;
  }
  model_.train(was_training);
  if (r.samples > 0) {
    r.loss = loss_sum / r.samples;
    r.top1 = top1 / r.samples;
    r.top5 = top5 / r.samples;
  }
  return r;
}

nlohmann::json Solver::rng_state() {
  nlohmann::json j = nlohmann::json::object();
  model_.visit([&](Module& m) {
    if (auto* d = dynamic_cast<Dropout*>(&m))
      j[m.path()] = {std::to_string(d->generator().seed()),
                     std::to_string(d->generator().offset())};
  });
  return j;
}

void Solver::restore_rng_state(const nlohmann::json& j) {
  model_.visit([&](Module& m) {
    if (auto* d = dynamic_cast<Dropout*>(&m)) {
      MINIDL_CHECK(j.contains(m.path()), "checkpoint has no RNG state for dropout '", m.path(),
                   "'");
      d->generator() = Generator(std::stoull(j[m.path()][0].get<std::string>()),
                                 std::stoull(j[m.path()][1].get<std::string>()));
    }
  });
}

std::string Solver::save_checkpoint() {
  MINIDL_CHECK(!options_.run_dir.empty(), "solver: no run directory to write a checkpoint into");
  Checkpoint c;
  c.model = model_.state_dict();
  c.optimizer = optimizer_.state_dict();
  LoaderPosition pos = train_.position();
  c.state = {{"iteration", iteration_},
             {"epoch", static_cast<double>(iteration_) / iters_per_epoch_},
             {"loader", {{"epoch", pos.epoch}, {"batch", pos.batch}}},
             {"rng", rng_state()},
             {"smoothed_loss", {smooth_, smooth_min_, smooth_n_}},
             {"elapsed_s", elapsed_},
             {"lr_schedule", lr_.spec()},
             {"momentum_schedule", momentum_.spec()},
             {"config", options_.config}};
  std::string dir = minidl::save_checkpoint(options_.run_dir, iteration_, c);
  prune_checkpoints(options_.run_dir, options_.keep_checkpoints);
  return dir;
}

void Solver::resume(const std::string& path) {
  Checkpoint c = load_checkpoint(path);
  try {
    model_.load_state_dict(c.model);
    optimizer_.load_state_dict(c.optimizer);
    iteration_ = c.state.at("iteration").get<int64_t>();
    train_.set_position({c.state.at("loader").at("epoch").get<int64_t>(),
                         c.state.at("loader").at("batch").get<int64_t>()});
    restore_rng_state(c.state.at("rng"));
    auto s = c.state.at("smoothed_loss");
    smooth_ = s[0].get<double>();
    smooth_min_ = s[1].get<double>();
    smooth_n_ = s[2].get<int64_t>();
    elapsed_ = c.state.value("elapsed_s", 0.0);
  } catch (const nlohmann::json::exception& e) {
    MINIDL_FAIL("checkpoint '", path, "': state.json is missing a field: ", e.what());
  }
  MINIDL_CHECK(c.state.value("lr_schedule", lr_.spec()) == lr_.spec(), "checkpoint '", path,
               "' was trained with lr schedule ", c.state.value("lr_schedule", std::string()),
               ", not ", lr_.spec());
  resumed_from_ = iteration_;
}

}  // namespace minidl
