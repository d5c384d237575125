// Typed settings: one small struct per concern, each listing its keys once (fields()), from which
// come its part of the config (to_json / merge), its flags (settings_flags.h) and the key named in
// every error. A verb takes the structs it needs; the whole experiment is `Settings`, the flat map
// that config files, RUN/config.json and checkpoints hold (docs/cli.md lists every key).
//
//   Settings s;                                   // the defaults
//   s.merge(read_config_file("exp.yaml"), "exp.yaml");
//   s.validate();                                 // UsageError "setting 'batch_size' must be ..."
//   Sgd opt(model, s.optim.sgd());
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/device.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "optim/sgd.h"

namespace minidl::cli {

// One key of a settings struct and the member it reads into. Types: text, integer, number,
// true/false, or a JSON value: a map (model_options, normalize) or, with `schedule`, a schedule
// (a spec string, a number or a map: optim/schedule_config.h).
struct Field {
  const char* key;
  std::variant<std::string*, int64_t*, double*, bool*, nlohmann::json*> member;
  const char* help;
  bool schedule = false;
};

struct ModelSettings {
  std::string model = "resnet20";                           // a registry name (docs/models.md)
  nlohmann::json model_options = nlohmann::json::object();  // model-specific: key -> scalar
  std::string init = "msra";  // a scheme of layers/init.h, or "default": the model's own
  // Weights the model starts from, after init ("": none): a .safetensors file, a checkpoint
  // folder or a run directory (its newest checkpoint). Every tensor of the model must be there.
  std::string init_from;
  std::vector<Field> fields();
  void validate() const;
};

struct DataSettings {
  std::string dataset = "fashion-mnist";
  std::string data_dir;   // "": the dataset's default location
  int64_t val_split = 0;  // training images held out for validation
  int64_t batch_size = 128;
  std::string augment = "auto";  // auto | none | flip | crop | crop-flip
  int64_t crop_pad = 0;          // 0: 4 for 32x32 images, 2 for 28x28
  int64_t workers = 2;           // loader threads
  bool verify_images = false;    // imagefolder: decode every image before anything is written
  // dataset synthetic (as torchvision's FakeData): image shape CxHxW, classes, training images (the
  // test set is a quarter of it); every image a pure function of (seed, index).
  std::string synthetic_shape = "1x28x28";
  int64_t synthetic_classes = 10;
  int64_t synthetic_images = 2048;
  // Per-channel mean/std of the training images in [0, 1]; empty: computed from the training set
  // (and then recorded in RUN/config.json, so eval and predict normalise the same way).
  nlohmann::json normalize = {{"mean", nlohmann::json::array()}, {"std", nlohmann::json::array()}};
  std::vector<Field> fields();
  void validate() const;
};

// "CxHxW" (H = W: the models take square images) as a Shape; a UsageError names `what` and the
// text.
Shape parse_image_shape(const std::string& text, const std::string& what);

struct OptimizerSettings {
  std::string sgd_form = "caffe";  // caffe (the paper's Eq. 2-3) | torch
  bool nesterov = true;
  double weight_decay = 5e-4;
  bool decoupled_decay = false;
  bool no_decay_bias_norm = false;
  double label_smoothing = 0.0;
  std::vector<Field> fields();
  void validate() const;
  SgdOptions sgd() const;
};

struct ScheduleSettings {
  nlohmann::json lr = "onecycle-smith:base=0.08,max=0.8,ss=45%";  // optim/schedule_config.h
  nlohmann::json momentum = "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%";
  int64_t epochs = 10;
  int64_t iterations = 0;  // > 0 overrides epochs
  std::vector<Field> fields();
  void validate() const;
  // iterations if set, else epochs x iters_per_epoch.
  int64_t total_iterations(int64_t iters_per_epoch) const;
};

// Where and how the process runs.
struct RunSettings {
  int64_t seed = 1;  // weights, shuffling, augmentation, dropout, the validation split
  std::string out = "runs/train";
  std::string device = "cpu";  // cpu | cuda | cuda:N
  int64_t threads = 0;         // compute threads; 0: all hardware threads
  bool deterministic = false;  // CUDA: deterministic cuDNN algorithms only (CPU runs always are)
  // Convolutions and GEMMs in f32, or bf16 / f16 with f32 accumulation; f16 scales the loss
  // dynamically (docs/precision.md)
  std::string precision = "f32";
  // The activations' layout: contiguous (NCHW) or channels_last (NHWC from the loader through
  // every layer: docs/layers.md, "Memory format")
  std::string memory_format = "contiguous";
  // CUDA: the training step captured as a CUDA graph after warm-up and replayed (docs/gpu.md,
  // "CUDA graphs"; SolverOptions::cuda_graph)
  bool cuda_graph = false;
  std::vector<Field> fields();
  void validate() const;
  Device parsed_device() const;  // throws UsageError when unknown or absent
  MemoryFormat parsed_memory_format() const;
  // The process-wide compute settings: set_num_threads(threads) when threads > 0, and
  // set_conv_deterministic(deterministic).
  void apply_compute() const;
};

// The training loop's cadence: evaluations, metrics rows, checkpoints (SolverOptions).
struct LoopSettings {
  int64_t eval_every = 0;     // iterations between evaluations; 0: each epoch
  int64_t eval_batches = -1;  // -1: the whole test set
  int64_t log_every = 50;
  int64_t sync_every = 0;        // SolverOptions::sync_every; 0: sync_every_for()
  int64_t checkpoint_every = 0;  // 0: each epoch; -1: at the end only
  int64_t keep_checkpoints = 3;  // 0 keeps all
  bool tensorboard = false;      // also RUN/tensorboard/events.out.tfevents.* (optim/event_file.h)
  std::vector<Field> fields();
  void validate() const;
  // The Solver's sync_every: the setting, or for 0, log_every on a GPU (where a read waits for the
  // device) and 1 on the CPU (where it costs nothing); 1 with f16's dynamic loss scaling.
  int64_t sync_every_for(Device device) const;
};

// Data parallel across processes (docs/distributed.md). Rank and world size come from the launcher
// (mpirun, srun, minidl_train --nproc); these say how the ranks work together. batch_size is per
// rank: the global batch is batch_size x world size.
struct DistSettings {
  std::string dist = "auto";   // communicator: auto (nccl on GPUs, mpi on the CPU), mpi, nccl
  bool sync_bn = false;        // BN statistics over the global batch (PyTorch's SyncBatchNorm)
  double bucket_mb = 25;       // gradient bucket size in MiB (PyTorch DDP's bucket_cap_mb)
  bool overlap = true;         // all-reduce buckets during backward, as they complete
  double dist_timeout = 1800;  // seconds a collective waits for the other ranks before failing
  std::vector<Field> fields();
  void validate() const;
};

struct Settings {
  ModelSettings model;
  DataSettings data;
  OptimizerSettings optim;
  ScheduleSettings schedule;
  RunSettings run;
  LoopSettings loop;
  DistSettings dist;

  // Every field of every struct, in the order of the structs above.
  std::vector<Field> fields();
  // The flat map of every key (RUN/config.json, checkpoints); merge() reads it back unchanged.
  nlohmann::json to_json() const;
  // Sets the keys `values` holds. A key no struct has, or a value of the wrong type, is a
  // UsageError naming `source` and the key (and listing the known keys).
  void merge(const nlohmann::json& values, const std::string& source);
  void validate() const;  // every struct's
};

}  // namespace minidl::cli
