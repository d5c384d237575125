#include "optim/step_graph.h"

#include <string>

#include "core/allocator.h"
#include "core/context.h"
#include "core/error.h"
#include "layers/batchnorm.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

std::string step_graph_obstacle(Module& model) {
  std::string why;
  model.visit([&](Module& m) {
    if (!why.empty()) return;
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m); bn && bn->options().caffe_style)
      why = m.where() + ": caffe-style batch norm's momentum follows a count on the host";
    else if (bn && bn->synced())
      why = m.where() + ": synchronised batch norm waits for the other ranks";
  });
  return why;
}

#if MINIDL_WITH_CUDA

struct StepGraph::Cuda {
  explicit Cuda(Device device) : stream(device), ready(device), done(device) {}
  ~Cuda() {
    // A replay may still run: it finishes before its graph goes.
    MINIDL_CUDA_CHECK_NOTHROW(cudaStreamSynchronize(stream.get().handle()));
    if (exec) MINIDL_CUDA_CHECK_NOTHROW(cudaGraphExecDestroy(exec));
  }
  OwnedStream stream;  // the graph's stream: its cached blocks are the graph's memory
  Event ready, done;   // the caller's work before a step; the step
  cudaGraphExec_t exec = nullptr;
};

StepGraph::StepGraph(Device device, int64_t warmup_steps)
    : device_(device), warmup_steps_(warmup_steps) {
  MINIDL_CHECK(device.is_cuda(), "cuda_graph: a CUDA graph needs a CUDA device, not ",
               device.str());
  MINIDL_CHECK(warmup_steps >= 1, "StepGraph: warmup_steps must be >= 1, got ", warmup_steps);
  cuda_ = std::make_unique<Cuda>(device);
  cuda_allocator(device.index).keep_stream(cuda_->stream.get().handle());
}

StepGraph::~StepGraph() = default;  // the stream's destruction tells the allocator (unkept)

bool StepGraph::captured() const {
  return cuda_->exec != nullptr;
}
Stream StepGraph::stream() const {
  return cuda_->stream.get();
}

namespace {

bool same_form(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.memory_format() == b.memory_format();
}

}  // namespace

void StepGraph::run(const Tensor& images, const Tensor& labels, const std::function<void()>& before,
                    const Body& body) {
  const Stream caller = current_stream(device_);
  const Stream s = cuda_->stream.get();
  cuda_->ready.record(caller);  // the batch (and everything before it) is ready
  cuda_->ready.wait(s);
  {
    StreamGuard guard(s);
    images.record_stream(s);  // the caller's tensors, read on the graph's stream
    labels.record_stream(s);
    if (!static_images_.defined()) {  // on the graph's stream: its memory is the graph's
      static_images_ =
          Tensor::empty(images.shape(), images.dtype(), device_, images.memory_format());
      static_labels_ = Tensor::empty(labels.shape(), labels.dtype(), device_);
    }
    before();
    if (!same_form(images, static_images_) || !same_form(labels, static_labels_)) {
      body(images, labels);  // another shape: the epoch's last batch, eagerly
      ++eager_steps_;
    } else {
      static_images_.copy_(images);
      static_labels_.copy_(labels);
      if (warmed_ < warmup_steps_) {
        body(static_images_, static_labels_);
        ++warmed_;
        ++eager_steps_;
      } else {
        if (!cuda_->exec) capture(body);
        MINIDL_CUDA_CHECK(cudaGraphLaunch(cuda_->exec, s.handle()));
        ++replays_;
      }
    }
  }
  cuda_->done.record(s);  // what follows on the caller's stream sees the step
  cuda_->done.wait(caller);
}

// Relaxed capture: the caching allocator may still call cudaMalloc for a block the warm-up did
// not leave in the stream's cache. That call is not part of the graph, and the memory it returns
// stays the graph's (the stream is kept).
void StepGraph::capture(const Body& body) {
  const cudaStream_t s = cuda_->stream.get().handle();
  MINIDL_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  cudaGraph_t graph = nullptr;
  try {
    body(static_images_, static_labels_);
  } catch (const std::exception& e) {
    cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // the capture's error is not the next call's
    MINIDL_FAIL("cuda_graph: capturing the training step failed: ", e.what(),
                "\n(something in the step waits for the host; train without cuda_graph)");
  }
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  if (ended != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    MINIDL_FAIL("cuda_graph: capturing the training step failed: ", cudaGetErrorString(ended),
                "\n(something in the step waits for the host; train without cuda_graph)");
  }
  const cudaError_t made = cudaGraphInstantiate(&cuda_->exec, graph, 0);
  cudaGraphDestroy(graph);
  MINIDL_CHECK(made == cudaSuccess,
               "cuda_graph: instantiating the captured step failed: ", cudaGetErrorString(made));
}

#else  // CPU-only build

struct StepGraph::Cuda {};

StepGraph::StepGraph(Device device, int64_t warmup_steps)
    : device_(device), warmup_steps_(warmup_steps) {
  MINIDL_FAIL("cuda_graph: a CUDA graph needs a CUDA build of minidl (this one is CPU-only)");
}
StepGraph::~StepGraph() = default;
bool StepGraph::captured() const {
  return false;
}
Stream StepGraph::stream() const {
  return Stream();
}
void StepGraph::run(const Tensor&, const Tensor&, const std::function<void()>&, const Body&) {}
void StepGraph::capture(const Body&) {}

#endif

}  // namespace minidl
