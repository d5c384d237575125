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
#include "optim/solver.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

// printf to stdout and to the run's log.
struct Log {
  std::FILE* file = nullptr;
  template <typename... A>
  void say(const char* fmt, A... args) {
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

int run_train(const SettingsFlags& flags, const std::string& resume, bool force) {
  namespace fs = std::filesystem;
  nlohmann::json s;
  if (!resume.empty()) {  // the run's own settings: the resumed run must be the same experiment
    std::string cfg = resume + "/config.json";
    if (!fs::exists(cfg))
      throw UsageError("--resume " + resume + ": no config.json there (not a run directory)");
    for (const std::string& k : given_keys(flags))
      if (k != "threads" && k != "workers")
        throw UsageError("--resume takes the run's own settings; --" + k +
                         " cannot be changed (only --threads, --workers)");
    s = merge_settings(default_settings(), read_config_file(cfg), cfg);
    s = merge_settings(s, resolve_settings(flags, s), "command line");
    s["out"] = resume;
    if (latest_checkpoint(resume).empty())
      throw UsageError("--resume " + resume + ": no checkpoint in " + resume + "/checkpoints");
  } else {
    s = resolve_settings(flags, default_settings());
  }
  // ---- everything that can be wrong with the input is checked before anything is written ----
  std::string out = s["out"];
  if (resume.empty() && !force &&
      (fs::exists(out + "/metrics.csv") || fs::exists(out + "/checkpoints")))
    throw UsageError("run directory '" + out + "' already holds a run; use --resume " + out +
                     " to continue it, --force to overwrite it, or another --out");
  if (s["threads"].get<int>() > 0) set_num_threads(s["threads"]);
  settings_device(s);  // a bad --device fails before the data is read
  Datasets data = load_datasets(s);
  s["normalize"] = {{"mean", data.stats.mean},
                    {"std", data.stats.std}};  // recorded for eval/predict
  std::unique_ptr<Loader> train = make_train_loader(s, data);
  std::unique_ptr<Loader> test = make_eval_loader(s, data.test, data.stats);
  int64_t per_epoch = train->batches_per_epoch();
  int64_t max_iter = s["iterations"].get<int64_t>() > 0 ? s["iterations"].get<int64_t>()
                                                        : s["epochs"].get<int64_t>() * per_epoch;
  if (max_iter <= 0) throw UsageError("nothing to train: epochs and iterations are both 0");
  auto lr = usage_guard([&] {
    return parse_schedule(expand_schedule_units(s["lr"], per_epoch, max_iter), ScheduleRole::lr);
  });
  auto mom = usage_guard([&] {
    return parse_schedule(expand_schedule_units(s["momentum"], per_epoch, max_iter),
                          ScheduleRole::momentum);
  });
  std::shared_ptr<Module> net =
      make_experiment_model(s, train->sample_shape(), data.train->num_classes());
  SgdOptions so;
  so.form = usage_guard([&] { return parse_sgd_form(s["sgd_form"]); });
  so.nesterov = s["nesterov"];
  so.weight_decay = s["weight_decay"];
  so.decoupled_decay = s["decoupled_decay"];
  so.no_decay_bias_and_norm = s["no_decay_bias_norm"];
  Sgd opt(*net, so);
  SoftmaxCrossEntropy loss(s["label_smoothing"].get<double>());

  // ---- the run ----
  fs::create_directories(out);
  write_file_atomic(out + "/config.json", s.dump(2) + "\n");
  Log log;
  log.file = std::fopen((out + "/log.txt").c_str(), resume.empty() ? "w" : "a");
  log.say(
      "minidl_train train: %s (%lld parameters) on %s: %lld train / %lld test images, batch %lld, "
      "%lld iterations (%lld per epoch), %s\n",
      s["model"].get<std::string>().c_str(), static_cast<long long>(net->parameter_count()),
      s["dataset"].get<std::string>().c_str(), static_cast<long long>(data.train->size()),
      static_cast<long long>(data.test->size()),
      static_cast<long long>(s["batch_size"].get<int64_t>()), static_cast<long long>(max_iter),
      static_cast<long long>(per_epoch), s["device"].get<std::string>().c_str());
  log.say("  lr %s\n  momentum %s\n  sgd %s%s, weight decay %g; run directory %s\n",
          lr->spec().c_str(), mom->spec().c_str(), sgd_form_name(so.form),
          so.nesterov ? " nesterov" : "", so.weight_decay, out.c_str());

  SolverOptions o;
  o.max_iter = max_iter;
  o.eval_every = s["eval_every"];
  o.eval_batches = s["eval_batches"];
  o.log_every = s["log_every"];
  o.checkpoint_every = s["checkpoint_every"];
  o.keep_checkpoints = s["keep_checkpoints"];
  o.run_dir = out;
  o.stop = &g_stop;
  o.log_out = log.file;
  o.config = s;
  Solver solver(*net, loss, opt, *lr, *mom, *train, test.get(), o);
  if (!resume.empty()) {
    solver.resume(resume);
    log.say("resumed from %s at iteration %lld\n", latest_checkpoint(resume).c_str(),
            static_cast<long long>(solver.iteration()));
  }
  std::signal(SIGINT, on_sigint);
  SolverStatus status = solver.run();
  std::signal(SIGINT, SIG_DFL);
  log.say("%s\n", solver.message().c_str());
  if (solver.skipped_steps() > 0)
    log.say("%lld steps were skipped for non-finite gradients\n",
            static_cast<long long>(solver.skipped_steps()));
  switch (status) {
    case SolverStatus::finished:
      log.say("test accuracy %.2f%% (top-5 %.2f%%, loss %.4f)\n", 100 * solver.last_eval().top1,
              100 * solver.last_eval().top5, solver.last_eval().loss);
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
  const nlohmann::json defaults = default_settings();  // items() must not outlive its json
  for (auto& [k, v] : defaults.items()) keys.push_back(k);
  auto flags = add_settings_flags(verb, keys);
  auto resume = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  verb->add_option("--resume", *resume,
                   "Continue the run in this directory from its newest checkpoint");
  verb->add_flag("--force", *force, "Overwrite a run already in --out");
  verb->callback(
      [flags, resume, force, &exit_code] { exit_code = run_train(*flags, *resume, *force); });
}

}  // namespace minidl::cli
