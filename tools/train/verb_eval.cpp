// `minidl_train eval`: loss, top-1 and top-5 of trained weights on a dataset split.
//
//   minidl_train eval --weights runs/r20        # a run: its settings and newest checkpoint
//   minidl_train eval --weights runs/r20/checkpoints/iter_000004690 --split val
//   minidl_train eval --weights w.safetensors --model resnet20 --dataset fashion-mnist
#include <cstdio>

#include "core/parallel.h"
#include "optim/evaluate.h"
#include "tools/train/experiment.h"
#include "tools/train/settings_flags.h"
#include "tools/train/weights_source.h"

namespace minidl::cli {

namespace {

struct EvalArgs {
  std::string weights, split = "test";
  int64_t num_classes = 0;  // 0: from the weights
};

int run_eval(const SettingsFlags& flags, const EvalArgs& a) {
  WeightsSource w = read_weights(a.weights, flags);
  const Settings& s = w.settings;
  s.run.apply_compute();
  Datasets data = load_datasets(s.data, s.run);
  std::shared_ptr<const Dataset> ds = a.split == "test"  ? data.test
                                      : a.split == "val" ? data.val
                                                         : data.train;
  if (a.split != "test" && a.split != "val" && a.split != "train")
    throw UsageError("--split: unknown split '" + a.split + "'; known: test, val, train");
  if (!ds) throw UsageError("--split val: the run has no validation split (val_split is 0)");
  std::unique_ptr<Loader> loader = make_eval_loader(s.data, s.run, ds, data.stats);
  const int64_t classes =
      a.num_classes > 0 ? a.num_classes : classes_in_weights(w, loader->sample_shape());
  if (data.train->num_classes() > classes)
    throw UsageError(ds->name() + " has " + std::to_string(data.train->num_classes()) +
                     " classes, more than the " + std::to_string(classes) + " of " + w.described);
  std::shared_ptr<Module> net = build_model(w, loader->sample_shape(), classes);
  SoftmaxCrossEntropy loss;
  EvalResult r = evaluate(*net, loss, *loader);
  std::printf("%s on %s (%lld images): loss %.4f, top-1 %.2f%%, top-5 %.2f%%\n",
              w.described.c_str(), ds->name().c_str(), static_cast<long long>(r.samples), r.loss,
              100 * r.top1, 100 * r.top5);
  return kOk;
}

}  // namespace

void add_eval_verb(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  std::shared_ptr<SettingsFlags> flags;
  CLI::App* verb =
      add_weights_verb(app, "eval", "Loss, top-1 and top-5 of trained weights on a dataset", flags,
                       a->weights, a->num_classes);
  verb->add_option("--split", a->split, "test, val or train")->capture_default_str();
  verb->callback([flags, a, &exit_code] { exit_code = run_eval(*flags, *a); });
}

}  // namespace minidl::cli
