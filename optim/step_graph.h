// StepGraph: the training step captured once as a CUDA graph and replayed for every later batch
// (SolverOptions::cuda_graph, `--cuda-graph`; docs/gpu.md, "CUDA graphs"). A small network's step
// on a big GPU is hundreds of short kernels, and launching them one by one from the host costs
// more than running them; a replay is one launch.
//
// What makes a step replayable (a graph replays its kernels with their arguments and addresses
// frozen at capture):
//   - the inputs: each batch is copied into static tensors, which the captured step reads;
//   - every per-step value lives in device memory, written before the replay: the SGD step's lr,
//     momentum, gradient scale and first-step rule (Sgd::write_live_scalars), the step log's row
//     (its cursor, kernels/step_log.h), batch norm's count (count_up, kernels/counter.h);
//   - the memory: the step runs on the graph's own stream, and the caching allocator keys cached
//     blocks by stream, so what the captured step allocated and freed is reused by nothing but the
//     step itself (a private pool, as PyTorch's graphs have); keep_stream() stops the allocator
//     from giving it back to the device on a release or an out-of-memory retry;
//   - warm-up: the first steps run eagerly on that stream, so that every lazily built thing (cuDNN
//     algorithms, the SGD plan, the gradients, the stream's cache) exists before the capture, which
//     then asks the device for no memory.
// What it cannot replay is refused by the caller (tools/train/settings.cpp): caffe-style batch norm
// (its momentum follows a host count), data parallel, a gradient hook. Dropout and f16's loss
// scale replay: their state advances on the device (kernels/dropout.h, kernels/loss_scale.h).
//
// A batch of other shapes (the epoch's last, partial one) runs eagerly on the same stream. The
// caller's stream waits for each step, so what follows it (reads, evaluations) sees its results.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/stream.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace minidl {

// Why `model`'s training step cannot be captured, or "" when it can: a caffe-style BatchNorm2d (its
// momentum follows a host count) or a synchronised one (it waits for the other ranks' sums), named
// by where it is.
std::string step_graph_obstacle(Module& model);

class StepGraph {
 public:
  // The step, given the batch's images and labels (the static copies once capturing).
  using Body = std::function<void(const Tensor& images, const Tensor& labels)>;

  // Throws unless `device` is a CUDA device of a CUDA build.
  explicit StepGraph(Device device, int64_t warmup_steps = 3);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // One step: `before` (the host's per-step writes, queued on the graph's stream), then the body:
  // eager for the warm-up steps and for a batch whose shapes differ from the captured one,
  // captured at the first step after warm-up (and then replayed once: capturing runs nothing), and
  // replayed after. Throws, naming the cause, when the capture fails (something in the step waited
  // for the host).
  void run(const Tensor& images, const Tensor& labels, const std::function<void()>& before,
           const Body& body);

  bool captured() const;
  int64_t replays() const { return replays_; }          // steps run as a replay
  int64_t eager_steps() const { return eager_steps_; }  // warm-up and odd-shaped steps
  Stream stream() const;

 private:
  struct Cuda;  // the stream, events and graph (CUDA types stay out of this header)
  void capture(const Body& body);
  Device device_;
  int64_t warmup_steps_;
  int64_t replays_ = 0, eager_steps_ = 0, warmed_ = 0;
  Tensor static_images_, static_labels_;
  std::unique_ptr<Cuda> cuda_;
};

}  // namespace minidl
