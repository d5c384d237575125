// `minidl_train train`: trains a model with SGD and LR/momentum schedules (DESIGN.md §7).
//
//   minidl_train train --model resnet20 --epochs 10 --lr "onecycle-smith:base=0.1,max=1,ss=45%" \
//       --momentum "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%" --out runs/r20
//   minidl_train train --resume runs/r20      # continues bit-identically (CPU) from its last
//   checkpoint
//
// Schedule numbers may be given in epochs ("ss=4ep") or as a share of training ("ss=45%").
// Exit codes: 0 done, 1 runtime error, 2 bad use, 3 diverged, 130 interrupted (SIGINT, checkpoint).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/parallel.h"
#include "layers/loss.h"
#include "optim/checkpoint.h"
#include "optim/metrics.h"
#include "optim/progress.h"
#include "optim/schedule_config.h"
#include "optim/solver.h"
#include "tools/train/distributed.h"
#include "tools/train/experiment.h"
#include "tools/train/launch.h"
#include "tools/train/memory_check.h"
#include "tools/train/run_dir.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

// printf to stdout and to the run's log (rank 0 of a data-parallel run; the others are quiet).
struct Log {
  std::FILE* file = nullptr;
  bool quiet = false;
  template <typename... A>
  void say(const char* fmt, A... args) {
    if (quiet) return;
    std::printf(fmt, args...);
    std::fflush(stdout);
    if (file) {
      std::fprintf(file, fmt, args...);
      std::fflush(file);
    }
  }
  ~Log() {
    if (file) std::fclose(file);
  }
};

// The final line of a run that ended: the last evaluation, when there was one.
void report_result(Log& log, const Solver& solver) {
  const EvalResult& e = solver.last_eval();
  if (e.samples > 0)
    log.say("test accuracy %.2f%% (top-5 %.2f%%, loss %.4f) on %lld images\n", 100 * e.top1,
            100 * e.top5, e.loss, static_cast<long long>(e.samples));
}

// --nproc N: checks the settings once here (a usage error is one line, not N), then runs the ranks
// (tools/train/launch.h).
int launch_train(const SettingsFlags& flags, const std::string& resume, int nproc) {
  Settings s = train_settings(flags, resume);
  s.validate();
  if (rank_info_from_process().world_size > 1)
    throw UsageError("--nproc inside a launched run (this process is already one of " +
                     std::to_string(rank_info_from_process().world_size) + " ranks)");
  std::vector<std::string> argv = without_nproc(command_line());
  argv[0] = fs::read_symlink("/proc/self/exe").string();  // this very binary, whatever PATH says
  if (!s.run.parsed_device().is_cuda()) exec_mpirun(argv, nproc);
  usage_guard([&] { check_device_available(Device::cuda(nproc - 1)); });  // a GPU per rank
  return spawn_ranks(argv, nproc);
}

int run_train(const SettingsFlags& flags, const std::string& resume, bool force) {
  Settings s = train_settings(flags, resume);
  // ---- everything that can be wrong with the input is checked before anything is written ----
  s.validate();  // a bad --device fails here, before the data is read
  const std::string out = s.run.out;
  if (resume.empty() && !force && holds_run(out))
    throw UsageError(
        "run directory '" + out + "' already holds a run; use --resume " + out +
        " to continue it, --force to move it aside and start afresh, or another --out");
  s.run.apply_compute();
  // Data parallel: every rank runs this function; rank 0 alone writes (docs/distributed.md).
  Ranks ranks = join_ranks(s.dist, s.run);
  const Shard shard{ranks.who.rank, ranks.world()};
  RunSettings rank_run = s.run;  // this rank's device (cuda:<local rank>); the config keeps "cuda"
  rank_run.device = ranks.device.str();
  Datasets data = load_datasets(s.data, s.run);
  s.data.normalize = {{"mean", data.stats.mean}, {"std", data.stats.std}};  // for eval/predict
  check_training_step_fits(s, train_sample_shape(s.data, data), data.train->num_classes(),
                           data.train->size());
  std::unique_ptr<Loader> train = make_train_loader(s.data, rank_run, data, shard);
  std::unique_ptr<Loader> test = make_eval_loader(s.data, rank_run, data.test, data.stats, shard);
  const int64_t per_epoch = train->batches_per_epoch();
  const int64_t max_iter = s.schedule.total_iterations(per_epoch);
  if (max_iter <= 0) throw UsageError("nothing to train: epochs and iterations are both 0");
  auto lr = usage_guard(
      [&] { return schedule_from_config(s.schedule.lr, ScheduleRole::lr, per_epoch, max_iter); });
  auto mom = usage_guard([&] {
    return schedule_from_config(s.schedule.momentum, ScheduleRole::momentum, per_epoch, max_iter);
  });
  std::shared_ptr<Module> net =
      make_experiment_model(s.model, rank_run, train->sample_shape(), data.train->num_classes());
  if (s.dist.sync_bn) enable_sync_bn(*net, ranks.comm.get());
  const SgdOptions so = s.optim.sgd();
  Sgd opt(*net, so);
  SoftmaxCrossEntropy loss(s.optim.label_smoothing);
  SolverOptions o;
  o.max_iter = max_iter;
  o.eval_every = s.loop.eval_every;
  o.eval_batches = s.loop.eval_batches;
  o.checkpoint_every = s.loop.checkpoint_every;
  o.keep_checkpoints = static_cast<int>(s.loop.keep_checkpoints);
  o.run_dir = out;
  o.stop = &g_stop;
  o.config = s.to_json();
  o.comm = ranks.comm.get();
  o.bucket_bytes = static_cast<size_t>(s.dist.bucket_mb * (1 << 20));
  o.overlap = s.dist.overlap;
  o.dynamic_loss_scale = s.run.precision == "f16";  // docs/precision.md
  o.sync_every = s.loop.sync_every_for(ranks.device);
  o.cuda_graph = s.run.cuda_graph;
  if (o.cuda_graph) {
    std::string why = ranks.world() > 1 ? "data parallel runs host code between the kernels (the "
                                          "all-reduce's buckets)"
                                        : step_graph_obstacle(*net);
    if (!why.empty()) throw UsageError("cuda_graph: cannot capture this step: " + why);
  }
  Solver solver(*net, loss, opt, *lr, *mom, *train, test.get(), o);
  std::vector<std::string> skipped;
  std::string resumed_from;
  if (!resume.empty()) {
    resumed_from = usage_guard([&] { return solver.resume(resume, &skipped); });
    if (solver.state().iteration == max_iter) {  // nothing to train: say so, write nothing
      if (ranks.root())
        std::printf("the run in %s finished at iteration %lld; nothing to train\n", out.c_str(),
                    static_cast<long long>(max_iter));
      return kOk;
    }
  }
  // Every rank has passed every check (the same ones, on the same files) before rank 0 writes:
  // otherwise a rank still checking `out` could find the run rank 0 has just started there.
  if (ranks.comm) ranks.comm->barrier();

  // ---- the run ----
  Log log;
  log.quiet = !ranks.root();
  if (ranks.root()) {
    if (force && resume.empty() && holds_run(out))
      log.say("--force: moved the run that was in %s to %s\n", out.c_str(),
              move_run_aside(out).c_str());
    fs::create_directories(out);
    write_file_atomic(out + "/config.json", s.to_json().dump(2) + "\n");
    log.file = std::fopen((out + "/log.txt").c_str(), resume.empty() ? "w" : "a");
  }
  std::string batch = std::to_string(s.data.batch_size);
  if (ranks.world() > 1)
    batch += " per rank x " + std::to_string(ranks.world()) +
             " ranks = " + std::to_string(s.data.batch_size * ranks.world()) + " (" +
             o.comm->backend() + (s.dist.sync_bn ? ", sync-bn" : "") + ")";
  log.say(
      "minidl_train train: %s (%lld parameters) on %s: %lld train / %lld test images, batch %s, "
      "%lld iterations (%lld per epoch), %s\n",
      s.model.model.c_str(), static_cast<long long>(net->parameter_count()), s.data.dataset.c_str(),
      static_cast<long long>(data.train->size()), static_cast<long long>(data.test->size()),
      batch.c_str(), static_cast<long long>(max_iter), static_cast<long long>(per_epoch),
      s.run.device.c_str());
  log.say("  lr %s\n  momentum %s\n  sgd %s%s, weight decay %g; run directory %s\n",
          lr->spec().c_str(), mom->spec().c_str(), sgd_form_name(so.form),
          so.nesterov ? " nesterov" : "", so.weight_decay, out.c_str());
  for (const std::string& why : skipped) log.say("warning: skipped checkpoint %s\n", why.c_str());
  if (!resumed_from.empty())
    log.say("resumed from %s at iteration %lld\n", resumed_from.c_str(),
            static_cast<long long>(solver.state().iteration));
  if (!resumed_from.empty() && solver.resumed_world_size() != ranks.world())
    log.say(
        "note: the checkpoint was written by %d ranks, this run has %d: it continues correctly, "
        "but not bit-identically (docs/distributed.md)\n",
        solver.resumed_world_size(), ranks.world());

  const int64_t log_every = s.loop.log_every;
  std::unique_ptr<ProgressObserver> progress;
  std::unique_ptr<MetricsObserver> metrics;
  if (ranks.root()) {  // one record stream: every rank's records are the same global figures
    progress = std::make_unique<ProgressObserver>(stdout, log.file, log_every);
    metrics = std::make_unique<MetricsObserver>(
        out + "/metrics.csv", resume.empty() ? -1 : solver.state().iteration, log_every,
        s.loop.tensorboard ? out + "/tensorboard" : "");
    solver.add_observer(*progress);
    solver.add_observer(*metrics);
  }
  std::signal(SIGINT, on_sigint);
  SolverStatus status = solver.run();
  std::signal(SIGINT, SIG_DFL);
  log.say("%s\n", solver.message().c_str());
  if (solver.state().skipped_steps > 0)
    log.say("%lld steps were skipped for non-finite gradients\n",
            static_cast<long long>(solver.state().skipped_steps));
  // No rank exits before rank 0 has written everything: mpirun ends the job as soon as one rank
  // exits non-zero (130, 3), which would kill rank 0 in the middle of its last checkpoint.
  if (ranks.comm) ranks.comm->barrier();
  switch (status) {
    case SolverStatus::finished:
      report_result(log, solver);
      return kOk;
    case SolverStatus::interrupted:
      return kInterrupted;
    case SolverStatus::diverged:
      return kDiverged;
    default:
      return kOk;
  }
}

}  // namespace

void add_train_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb =
      app.add_subcommand("train", "Train a model (settings: flags, or a YAML/JSON --config)");
  std::vector<std::string> keys;
  for (const Field& f : Settings().fields()) keys.push_back(f.key);
  auto flags = add_settings_flags(verb, keys);
  auto resume = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto nproc = std::make_shared<int>(0);
  verb->add_option("--resume", *resume,
                   "Continue the run in this directory from its newest checkpoint");
  verb->add_flag("--force", *force,
                 "Start afresh in an --out that holds a run, moving that run aside first");
  verb->add_option("--nproc", *nproc,
                   "Run N ranks on this machine, data parallel (one per GPU; mpirun on the CPU)")
      ->check(positive_integer());
  verb->callback([flags, resume, force, nproc, &exit_code] {
    exit_code =
        *nproc > 1 ? launch_train(*flags, *resume, *nproc) : run_train(*flags, *resume, *force);
  });
}

}  // namespace minidl::cli
