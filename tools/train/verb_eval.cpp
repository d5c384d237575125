// `minidl_train eval`: loss, top-1 and top-5 of trained weights on a dataset split.
//
//   minidl_train eval --weights runs/r20        # a run: its settings and newest checkpoint
//   minidl_train eval --weights runs/r20/checkpoints/iter_000004690 --split val
//   minidl_train eval --weights w.safetensors --model resnet20 --dataset fashion-mnist
#include <cstdio>

#include "core/parallel.h"
#include "optim/solver.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"
#include "tools/train/weights_source.h"

namespace minidl::cli {

namespace {

struct EvalArgs {
  std::string weights, split = "test";
};

int run_eval(const SettingsFlags& flags, const EvalArgs& a) {
  WeightsSource w = read_weights(a.weights, flags);
  const nlohmann::json& s = w.settings;
  if (s["threads"].get<int>() > 0) set_num_threads(s["threads"]);
  Datasets data = load_datasets(s);
  std::shared_ptr<const Dataset> ds = a.split == "test"  ? data.test
                                      : a.split == "val" ? data.val
                                                         : data.train;
  if (a.split != "test" && a.split != "val" && a.split != "train")
    throw UsageError("--split: unknown split '" + a.split + "'; known: test, val, train");
  if (!ds) throw UsageError("--split val: the run has no validation split (val_split is 0)");
  std::unique_ptr<Loader> loader = make_eval_loader(s, ds, data.stats);
  std::shared_ptr<Module> net = build_model(w, loader->sample_shape(), data.train->num_classes());
  // The Solver's evaluation, without training anything.
  SgdOptions so;
  Sgd opt(*net, so);
  SoftmaxCrossEntropy loss;
  auto fixed = parse_schedule("0", ScheduleRole::lr);
  SolverOptions o;
  o.max_iter = 1;
  o.progress = false;
  Solver solver(*net, loss, opt, *fixed, *fixed, *loader, nullptr, o);
  EvalResult r = solver.evaluate(*loader);
  std::printf("%s on %s (%lld images): loss %.4f, top-1 %.2f%%, top-5 %.2f%%\n",
              w.described.c_str(), ds->name().c_str(), static_cast<long long>(r.samples), r.loss,
              100 * r.top1, 100 * r.top5);
  return kOk;
}

}  // namespace

void add_eval_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb =
      app.add_subcommand("eval", "Loss, top-1 and top-5 of trained weights on a dataset");
  auto flags = add_settings_flags(verb, kWeightsKeys);
  auto a = std::make_shared<EvalArgs>();
  verb->add_option("--weights,-w", a->weights,
                   "A run directory, a checkpoint folder or a .safetensors file")
      ->required();
  verb->add_option("--split", a->split, "test, val or train")->capture_default_str();
  verb->callback([flags, a, &exit_code] { exit_code = run_eval(*flags, *a); });
}

}  // namespace minidl::cli
