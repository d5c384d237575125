// `minidl_train range-test`: the LR range test (optim/range_test.h) on an experiment's model and
// data.
//
//   minidl_train range-test --model resnet20 --mode linear --max-lr 3 --iterations 400 --out
//   runs/rt minidl_train range-test --model resnet20 --repeats 3          (seeds 1, 2, 3; one
//   suggestion) minidl_train range-test --mode exp --min-lr 1e-5 --max-lr 10
//
// Writes OUT/range_test.csv, OUT/range_test.json and (with python3-matplotlib) OUT/range_test.png;
// prints the suggested max and min LR, the rule behind them and, with --repeats, each repeat's.
// No weights are written unless --save-weights is given (then: the last repeat's initial weights).
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/parallel.h"
#include "core/safetensors.h"
#include "optim/event_file.h"
#include "optim/range_test.h"
#include "optim/schedule_config.h"
#include "tools/train/experiment.h"
#include "tools/train/memory_check.h"
#include "tools/train/settings_flags.h"

namespace minidl::cli {

namespace {

struct RangeArgs {
  std::string mode = "linear";
  double min_lr = -1, max_lr = -1;  // -1: the mode's default
  int64_t iterations = 500, eval_every = 20, eval_batches = 20;
  int64_t bn_batches = 10, smooth = 5, repeats = 1;
  // The rule's defaults are the library's (optim/range_test.h), written there once.
  double margin = RangeTestOptions{}.margin, edge_fraction = RangeTestOptions{}.edge_fraction;
  bool save_weights = false, no_plot = false;
};

// The settings a range test reads: the model, the data, the optimiser, the momentum schedule and
// the run's seed, device, threads and folder (the sweep itself has its own flags).
std::vector<std::string> range_keys() {
  std::vector<std::string> keys;
  for (const std::vector<std::string>& part :
       {keys_of(ModelSettings()), keys_of(DataSettings()), keys_of(OptimizerSettings()),
        keys_of(RunSettings())})
    keys.insert(keys.end(), part.begin(), part.end());
  keys.push_back("momentum");
  keys.push_back("tensorboard");
  return keys;
}

// The sweep as TensorBoard scalars at each iteration (TensorBoard's x axis is the step, so the LR
// is a curve of its own): range_test/<value>, or range_test/seed_<S>/<value> for each repeat.
void write_range_test_events(const std::string& dir, const RangeTestReport& report) {
  EventFileWriter events(dir);
  for (size_t k = 0; k < report.repeats.size(); ++k) {
    std::string p = report.repeats.size() == 1
                        ? "range_test/"
                        : "range_test/seed_" + std::to_string(report.seeds[k]) + "/";
    for (const RangeTestPoint& pt : report.repeats[k].points)
      events.add_scalars(pt.iteration, {{p + "lr", pt.lr},
                                        {p + "loss", pt.loss},
                                        {p + "smoothed_loss", pt.smoothed},
                                        {p + "test_loss", pt.test_loss},
                                        {p + "test_acc", pt.test_acc},
                                        {p + "smoothed_test_loss", pt.smoothed_test_loss}});
  }
}

std::string fmt_lr(double lr) {
  if (std::isnan(lr)) return "none";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", lr);
  return buf;
}

Settings range_defaults() {
  Settings d;
  d.schedule.momentum = "0.9";
  d.run.out = "runs/range-test";
  return d;
}

int run_range(const SettingsFlags& flags, const RangeArgs& a) {
  Settings s = resolve_settings(flags, range_defaults());
  s.validate();
  RangeTestOptions o;
  if (a.mode == "linear") {
    o.mode = RangeTestOptions::linear;
    o.min_lr = a.min_lr >= 0 ? a.min_lr : 0.0;
    o.max_lr = a.max_lr >= 0 ? a.max_lr : 3.0;
  } else if (a.mode == "exp") {
    o.mode = RangeTestOptions::exponential;
    o.min_lr = a.min_lr >= 0 ? a.min_lr : 1e-5;
    o.max_lr = a.max_lr >= 0 ? a.max_lr : 10.0;
  } else {
    throw UsageError("--mode: unknown range test '" + a.mode +
                     "'; known: linear (Smith), exp (fastai)");
  }
  if (!(o.max_lr > o.min_lr) || (o.mode == RangeTestOptions::exponential && o.min_lr <= 0))
    throw UsageError("range test needs 0 <= --min-lr < --max-lr (and --min-lr > 0 for --mode exp)");
  o.iterations = a.iterations;
  o.eval_every = a.eval_every;
  o.eval_batches = a.eval_batches;
  o.bn_batches = a.bn_batches;
  o.smooth = a.smooth;
  o.margin = a.margin;
  o.edge_fraction = a.edge_fraction;
  o.dynamic_loss_scale = s.run.precision == "f16";
  if (o.smooth % 2 == 0)
    throw UsageError("--smooth: the moving average needs an odd number of points");

  s.run.apply_compute();
  Datasets data = load_datasets(s.data, s.run);
  check_training_step_fits(s, train_sample_shape(s.data, data), data.train->num_classes(),
                           data.train->size());
  std::printf("minidl_train range-test: %s on %s, batch %lld%s\n", s.model.model.c_str(),
              s.data.dataset.c_str(), static_cast<long long>(s.data.batch_size),
              a.repeats > 1 ? (", " + std::to_string(a.repeats) + " repeats").c_str() : "");
  o.restore = !a.save_weights;
  std::vector<RangeTestResult> repeats;
  std::vector<uint64_t> seeds;
  std::shared_ptr<Module> net;
  for (int64_t k = 0; k < a.repeats; ++k) {
    // Repeat k: seed + k draws other initial weights and another order of the batches.
    Settings sk = s;
    sk.run.seed = s.run.seed + static_cast<uint64_t>(k);
    std::unique_ptr<Loader> train = make_train_loader(sk.data, sk.run, data);
    std::unique_ptr<Loader> bn_data = make_train_loader(sk.data, sk.run, data);
    std::unique_ptr<Loader> test = make_eval_loader(sk.data, sk.run, data.test, data.stats);
    auto mom = usage_guard([&] {
      return schedule_from_config(sk.schedule.momentum, ScheduleRole::momentum,
                                  train->batches_per_epoch(), o.iterations);
    });
    net = make_experiment_model(sk.model, sk.run, train->sample_shape(), data.train->num_classes());
    Sgd opt(*net, sk.optim.sgd());
    SoftmaxCrossEntropy loss(sk.optim.label_smoothing);
    if (a.repeats > 1)
      std::printf("-- repeat %lld of %lld, seed %llu\n", static_cast<long long>(k + 1),
                  static_cast<long long>(a.repeats), static_cast<unsigned long long>(sk.run.seed));
    repeats.push_back(run_range_test(*net, loss, opt, *mom, *train, test.get(), o, bn_data.get()));
    seeds.push_back(sk.run.seed);
    const RangeTestResult& r = repeats.back();
    std::printf("%s after %zu iterations; %s\n", r.stop_reason.c_str(), r.points.size(),
                std::isnan(r.suggestion.max_lr)
                    ? "no suggestion"
                    : ("max LR " + fmt_lr(r.suggestion.max_lr)).c_str());
  }
  RangeTestReport report = combine_range_tests(std::move(repeats), std::move(seeds), o);
  const std::string out = s.run.out;
  write_range_test(out, o, report);
  if (s.loop.tensorboard) write_range_test_events(out + "/tensorboard", report);
  const LrSuggestion& sg = report.suggestion;
  if (std::isnan(sg.max_lr)) {
    std::printf("%s (see %s/range_test.csv)\n", sg.rule.c_str(), out.c_str());
  } else {
    std::printf("suggested max LR %.4g, min LR %.4g\n  rule: %s\n", sg.max_lr, sg.min_lr,
                sg.rule.c_str());
  }
  if (report.repeats.size() > 1) {
    std::string each;
    for (const RangeTestResult& r : report.repeats)
      each += (each.empty() ? "" : ", ") + fmt_lr(r.suggestion.max_lr);
    std::printf("  each repeat's max LR: %s\n", each.c_str());
  }
  if (a.save_weights) {
    save_safetensors(out + "/weights.safetensors", net->state_dict());
    std::printf("weights after the sweep: %s/weights.safetensors\n", out.c_str());
  }
  if (!a.no_plot) {
    std::string script = tool_script("plot_range_test.py");
    std::string cmd = "/usr/bin/python3 " + script + " " + out + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0)
      std::printf("plot: %s/range_test.png\n", out.c_str());
    else
      std::printf("(no plot: %s needs /usr/bin/python3 with matplotlib)\n", script.c_str());
  }
  std::printf("wrote %s/range_test.csv and range_test.json\n", out.c_str());
  return kOk;
}

}  // namespace

void add_range_test_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb = app.add_subcommand(
      "range-test", "LR range test: Smith's linear sweep or fastai's exponential one");
  auto flags = add_settings_flags(verb, range_keys(), range_defaults());
  auto a = std::make_shared<RangeArgs>();
  verb->add_option("--mode", a->mode,
                   "linear (Smith: test loss/accuracy) or exp (fastai: smoothed train loss)")
      ->capture_default_str();
  verb->add_option("--min-lr", a->min_lr, "Start of the sweep (default 0 linear, 1e-5 exp)")
      ->check(non_negative_number());
  verb->add_option("--max-lr", a->max_lr, "End of the sweep (default 3 linear, 10 exp)")
      ->check(non_negative_number());
  verb->add_option("--iterations,-n", a->iterations, "Iterations of the sweep")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--eval-every", a->eval_every,
                   "Linear mode: iterations between test evaluations")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--eval-batches", a->eval_batches, "Test batches per evaluation")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--bn-batches", a->bn_batches,
                   "Linear mode: training batches that re-estimate the BN statistics before each "
                   "test point (PreciseBN; 0: off)")
      ->check(non_negative_number())
      ->capture_default_str();
  verb->add_option("--smooth", a->smooth,
                   "Linear mode: points in the centred moving average of the test loss (odd)")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--margin", a->margin,
                   "Linear mode: the edge is where the smoothed test loss first rises this "
                   "fraction above its lowest value so far")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--edge-fraction", a->edge_fraction,
                   "Linear mode: max LR as a fraction of the edge (1: the edge itself)")
      ->check(CLI::Range(0.0, 1.0) & CLI::PositiveNumber)
      ->capture_default_str();
  verb->add_option("--repeats", a->repeats,
                   "Run the sweep at seeds seed, seed+1, ... and suggest from all of them")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_flag("--save-weights", a->save_weights,
                 "Also write the initial weights (the test itself trains nothing that stays)");
  verb->add_flag("--no-plot", a->no_plot, "Do not call tools/plot_range_test.py");
  verb->callback([flags, a, &exit_code] { exit_code = run_range(*flags, *a); });
}

}  // namespace minidl::cli
