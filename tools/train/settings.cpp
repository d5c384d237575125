#include "tools/train/settings.h"

#include <cmath>
#include <cstdint>
#include <filesystem>

#include "core/parallel.h"
#include "core/text.h"
#include "kernels/conv.h"
#include "layers/init.h"
#include "optim/event_file.h"
#include "tools/train/cli.h"

namespace minidl::cli {

namespace {

[[noreturn]] void bad(const char* key, const std::string& what) {
  throw UsageError("setting '" + std::string(key) + "' " + what);
}

void one_of(const char* key, const std::string& value, const std::vector<std::string>& known) {
  for (const std::string& k : known)
    if (value == k) return;
  std::string list;
  for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
  bad(key, "is '" + value + "'; known: " + list);
}

// A JSON value's type in words, for "must be an integer, got ..." messages.
std::string shown(const nlohmann::json& v) {
  std::string text = v.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Reads `value` into the field's member, checking its type.
void read_field(const Field& f, const nlohmann::json& value, const std::string& source) {
  auto fail = [&](const char* want) {
    throw UsageError(source + ": setting '" + f.key + "' must be " + want + ", got " +
                     shown(value));
  };
  std::visit(
      [&](auto* member) {
        using T = std::remove_pointer_t<decltype(member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (!value.is_string()) fail("a string");
          *member = value.get<std::string>();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          // an unsigned value over 2^63 - 1 would wrap to a negative one
          if (!value.is_number_integer() ||
              (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX))
            fail("an integer");
          *member = value.get<int64_t>();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!value.is_number()) fail("a number");
          *member = value.get<double>();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!value.is_boolean()) fail("true or false");
          *member = value.get<bool>();
        } else {
          // JSON members: a map (validate() checks its inside) or a schedule.
          if (f.schedule && !(value.is_object() || value.is_string() || value.is_number()))
            fail("a schedule: a spec string, a number or a map with 'name'");
          if (!f.schedule && !value.is_object()) fail("a map");
          *member = value;
        }
      },
      f.member);
}

nlohmann::json field_json(const Field& f) {
  return std::visit([](auto* member) { return nlohmann::json(*member); }, f.member);
}

template <typename S>
void append(std::vector<Field>& out, S& s) {
  std::vector<Field> f = s.fields();
  out.insert(out.end(), f.begin(), f.end());
}

void check_schedule_value(const char* key, const nlohmann::json& v) {
  if (v.is_string() ? v.get<std::string>().empty() : !(v.is_number() || v.is_object()))
    bad(key, "must be a schedule: a spec string, a number or a map with 'name'");
}

}  // namespace

// ---- the structs ----

std::vector<Field> ModelSettings::fields() {
  return {{"model", &model, "Model name (docs/models.md)"},
          {"model_options", &model_options, "Model options, key -> value"},
          {"init", &init, "Weight init: msra, msra_fan_out, xavier, pytorch, or default"},
          {"init_from", &init_from,
           "Start from these weights (after init): a .safetensors file, a checkpoint folder or a "
           "run directory"}};
}

void ModelSettings::validate() const {
  if (model.empty()) bad("model", "is empty");
  if (!model_options.is_object()) bad("model_options", "must be a map of key: value");
  for (auto& [k, v] : model_options.items())
    if (v.is_object() || v.is_array() || v.is_null())
      bad("model_options", "'" + k + "' must be a single value, got " + shown(v));
  if (init != "default") usage_guard([&] { check_init_scheme(init); });
  if (!init_from.empty() && !std::filesystem::exists(init_from))
    bad("init_from", "'" + init_from + "': no such file or directory");
}

std::vector<Field> DataSettings::fields() {
  return {{"dataset", &dataset,
           "Dataset: fashion-mnist, mnist, cifar10, cifar100, imagefolder or synthetic"},
          {"data_dir", &data_dir, "The dataset's folder"},
          {"val_split", &val_split, "Training images held out for validation"},
          {"batch_size", &batch_size, "Images per iteration"},
          {"augment", &augment, "Augmentation: auto, none, flip, crop or crop-flip"},
          {"crop_pad", &crop_pad, "Padding of random crops (0: 4 for 32x32, 2 for 28x28)"},
          {"workers", &workers, "Loader threads"},
          {"verify_images", &verify_images,
           "imagefolder: decode every image before the run starts and name the bad ones"},
          {"normalize", &normalize, "Per-channel mean and std (empty: computed)"},
          {"synthetic_shape", &synthetic_shape, "dataset synthetic: image shape CxHxW"},
          {"synthetic_classes", &synthetic_classes, "dataset synthetic: number of classes"},
          {"synthetic_images", &synthetic_images,
           "dataset synthetic: training images (the test set: a quarter)"}};
}

Shape parse_image_shape(const std::string& text, const std::string& what) {
  Shape s;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t x = text.find('x', pos);
    std::string part = text.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    int64_t v = 0;
    if (!parse_int(part, v) || v <= 0 || v > (int64_t(1) << 20))
      throw UsageError(what + ": expected CxHxW like 3x32x32, got '" + text + "'");
    s.push_back(v);
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  if (s.size() != 3 || s[1] != s[2])
    throw UsageError(what + ": expected CxHxW with H = W, got '" + text + "'");
  return s;
}

void DataSettings::validate() const {
  if (batch_size <= 0) bad("batch_size", "must be positive, got " + std::to_string(batch_size));
  if (val_split < 0) bad("val_split", "must be >= 0, got " + std::to_string(val_split));
  if (crop_pad < 0) bad("crop_pad", "must be >= 0, got " + std::to_string(crop_pad));
  if (workers < 0 || workers > 256)
    bad("workers", "must be in [0, 256], got " + std::to_string(workers));
  one_of("augment", augment, {"auto", "none", "flip", "crop", "crop-flip"});
  const Shape shape = parse_image_shape(synthetic_shape, "setting 'synthetic_shape'");
  if (synthetic_classes < 2 || synthetic_classes > 100000)
    bad("synthetic_classes", "must be in [2, 100000], got " + std::to_string(synthetic_classes));
  // The images are generated once and held in memory (train and test): 4 GiB at most.
  const double bytes = 1.25 * static_cast<double>(synthetic_images) * 4.0 *
                       static_cast<double>(shape[0] * shape[1] * shape[2]);
  if (synthetic_images < 4 || bytes > 4.0 * (1 << 30))
    bad("synthetic_images", "must be at least 4 and hold at most 4 GiB of " + synthetic_shape +
                                " f32 images (train and test), got " +
                                std::to_string(synthetic_images));
  if (!normalize.is_object() || !normalize.contains("mean") || !normalize.contains("std") ||
      !normalize["mean"].is_array() || !normalize["std"].is_array() ||
      normalize["mean"].size() != normalize["std"].size() || normalize.size() != 2)
    bad("normalize", "must be {mean: [...], std: [...]} with as many values in each");
  for (const char* k : {"mean", "std"})
    for (const nlohmann::json& v : normalize[k])
      if (!v.is_number() || !std::isfinite(v.get<double>()) ||
          (std::string(k) == "std" && !(v.get<double>() > 0)))
        bad("normalize", std::string(k) + " values must be finite numbers (std > 0)");
}

std::vector<Field> OptimizerSettings::fields() {
  return {{"weight_decay", &weight_decay, "L2 weight decay"},
          {"sgd_form", &sgd_form, "SGD form: caffe (the paper's Eq. 2-3) or torch"},
          {"nesterov", &nesterov, "Nesterov momentum"},
          {"decoupled_decay", &decoupled_decay, "Decoupled (AdamW-style) weight decay"},
          {"no_decay_bias_norm", &no_decay_bias_norm, "No decay on biases and BN parameters"},
          {"label_smoothing", &label_smoothing, "Label smoothing of the training loss"}};
}

void OptimizerSettings::validate() const {
  one_of("sgd_form", sgd_form, {"caffe", "torch"});
  if (!(std::isfinite(weight_decay) && weight_decay >= 0))
    bad("weight_decay", "must be a finite number >= 0");
  if (!(label_smoothing >= 0 && label_smoothing < 1)) bad("label_smoothing", "must be in [0, 1)");
}

SgdOptions OptimizerSettings::sgd() const {
  SgdOptions o;
  o.form = parse_sgd_form(sgd_form);
  o.nesterov = nesterov;
  o.weight_decay = weight_decay;
  o.decoupled_decay = decoupled_decay;
  o.no_decay_bias_and_norm = no_decay_bias_norm;
  return o;
}

std::vector<Field> ScheduleSettings::fields() {
  return {{"epochs", &epochs, "Epochs to train"},
          {"iterations", &iterations, "Iterations to train (> 0 overrides epochs)"},
          {"lr", &lr, "LR schedule (docs/optim.md)", true},
          {"momentum", &momentum, "Momentum schedule", true}};
}

void ScheduleSettings::validate() const {
  if (epochs < 0) bad("epochs", "must be >= 0");
  if (iterations < 0) bad("iterations", "must be >= 0");
  check_schedule_value("lr", lr);
  check_schedule_value("momentum", momentum);
}

int64_t ScheduleSettings::total_iterations(int64_t iters_per_epoch) const {
  if (iterations > 0) return iterations;
  if (epochs > 0 && iters_per_epoch > INT64_MAX / epochs) bad("epochs", "is too many");
  return epochs * iters_per_epoch;
}

std::vector<Field> RunSettings::fields() {
  return {{"seed", &seed, "Seed of weights, shuffling, augmentation and dropout"},
          {"out", &out, "The run directory"},
          {"device", &device, "Device: cpu, cuda or cuda:N"},
          {"threads", &threads, "Compute threads (0: all cores)"},
          {"deterministic", &deterministic,
           "CUDA: only deterministic cuDNN algorithms, so a GPU run repeats bit for bit"},
          {"precision", &precision,
           "Convolutions and GEMMs: f32, or bf16 / f16 with f32 accumulation (BN, loss, weights "
           "f32; f16 scales the loss dynamically)"},
          {"memory_format", &memory_format,
           "Activations' layout: contiguous (NCHW) or channels_last (NHWC, from the loader "
           "through every layer)"},
          {"cuda_graph", &cuda_graph,
           "CUDA: capture the training step as a CUDA graph after 3 eager steps and replay it "
           "(not with data parallel, caffe-style or synchronised batch norm)"}};
}

void RunSettings::validate() const {
  if (seed < 0) bad("seed", "must be >= 0");
  if (threads < 0 || threads > 4096) bad("threads", "must be in [0, 4096]");
  one_of("precision", precision, {"f32", "bf16", "f16"});
  one_of("memory_format", memory_format, {"contiguous", "channels_last"});
  const Device d = parsed_device();
  if (cuda_graph && !d.is_cuda())
    bad("cuda_graph", "needs a CUDA device; device is " + device);
}

MemoryFormat RunSettings::parsed_memory_format() const {
  return memory_format == "channels_last" ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}

Device RunSettings::parsed_device() const {
  Device d = usage_guard([&] { return parse_device(device); });
  usage_guard([&] { check_device_available(d); });
  return d;
}

void RunSettings::apply_compute() const {
  if (threads > 0) set_num_threads(static_cast<int>(threads));
  set_conv_deterministic(deterministic);
}

std::vector<Field> LoopSettings::fields() {
  return {{"eval_every", &eval_every, "Iterations between evaluations (0: each epoch)"},
          {"eval_batches", &eval_batches, "Batches per evaluation (-1: all)"},
          {"log_every", &log_every, "Iterations between metrics rows and log lines"},
          {"sync_every", &sync_every,
           "Iterations between host reads of the loss, top-1 and step-skip flag; they stay on the "
           "device in between (0: log_every on a GPU, 1 on the CPU)"},
          {"checkpoint_every", &checkpoint_every,
           "Iterations between checkpoints (0: each epoch, -1: at the end)"},
          {"keep_checkpoints", &keep_checkpoints, "Checkpoints kept (0: all)"},
          {"tensorboard", &tensorboard,
           "Also write metrics.csv's scalars as TensorBoard events in RUN/tensorboard"}};
}

void LoopSettings::validate() const {
  if (eval_every < 0) bad("eval_every", "must be >= 0");
  if (eval_batches == 0 || eval_batches < -1) bad("eval_batches", "must be positive, or -1 (all)");
  if (log_every < 0) bad("log_every", "must be >= 0");
  if (sync_every < 0) bad("sync_every", "must be >= 0");
  if (checkpoint_every < -1) bad("checkpoint_every", "must be >= -1");
  if (keep_checkpoints < 0 || keep_checkpoints > 1000000) bad("keep_checkpoints", "must be >= 0");
  if (tensorboard && !tensorboard_available())
    bad("tensorboard", "needs a minidl built with protobuf (Debian's libprotobuf-dev and "
                       "protobuf-compiler; tools/setup.sh installs them)");
}

int64_t LoopSettings::sync_every_for(Device device) const {
  if (sync_every > 0) return sync_every;
  return device.is_cuda() ? std::max<int64_t>(log_every, 1) : 1;
}

std::vector<Field> DistSettings::fields() {
  return {
      {"dist", &dist, "Data parallel communicator: auto (nccl on GPUs, mpi on the CPU), mpi, nccl"},
      {"sync_bn", &sync_bn, "BN statistics over the global batch (all ranks), not per rank"},
      {"bucket_mb", &bucket_mb, "Gradient all-reduce bucket size in MiB"},
      {"overlap", &overlap, "All-reduce gradient buckets during backward"},
      {"dist_timeout", &dist_timeout,
       "Seconds a collective waits for the other ranks before the run fails"}};
}

void DistSettings::validate() const {
  one_of("dist", dist, {"auto", "mpi", "nccl"});
  if (!(std::isfinite(bucket_mb) && bucket_mb > 0 && bucket_mb <= 1 << 20))
    bad("bucket_mb", "must be a number in (0, 1048576]");
  if (!(std::isfinite(dist_timeout) && dist_timeout > 0 && dist_timeout <= 1e7))
    bad("dist_timeout", "must be a number of seconds in (0, 1e7]");
}

// ---- the whole ----

std::vector<Field> Settings::fields() {
  std::vector<Field> out;
  append(out, model);
  append(out, data);
  append(out, optim);
  append(out, schedule);
  append(out, run);
  append(out, loop);
  append(out, dist);
  return out;
}

nlohmann::json Settings::to_json() const {
  Settings copy = *this;
  nlohmann::json j = nlohmann::json::object();
  for (const Field& f : copy.fields()) j[f.key] = field_json(f);
  return j;
}

void Settings::merge(const nlohmann::json& values, const std::string& source) {
  if (!values.is_object()) throw UsageError(source + ": settings must be a map of key: value");
  std::vector<Field> all = fields();
  for (auto& [key, value] : values.items()) {
    const Field* field = nullptr;
    for (const Field& f : all)
      if (key == f.key) field = &f;
    if (!field) {
      std::string known;
      for (const Field& f : all) known += (known.empty() ? "" : ", ") + std::string(f.key);
      throw UsageError(source + ": unknown setting '" + key + "'; known: " + known);
    }
    read_field(*field, value, source);
  }
}

void Settings::validate() const {
  // every text ends up in RUN/config.json: JSON holds UTF-8 only
  Settings copy = *this;
  for (const Field& f : copy.fields()) {
    nlohmann::json v = field_json(f);
    std::string text = v.is_string() ? v.get<std::string>() : "";
    if (v.is_object())
      for (auto& [k, e] : v.items()) text += k + (e.is_string() ? e.get<std::string>() : "");
    if (!is_utf8(text)) bad(f.key, "is not valid UTF-8 text");
  }
  model.validate();
  data.validate();
  optim.validate();
  schedule.validate();
  run.validate();
  loop.validate();
  dist.validate();
}

}  // namespace minidl::cli
