// The loader's internals (data/loader.cpp: order and worker threads; data/loader_device.cpp: the
// CUDA copy stage and the resident path). Not part of the public API.
#pragma once

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/stream.h"
#include "data/loader.h"

namespace minidl {

// A batch built on the host (pinned when the loader's device is CUDA), or the error building it.
struct HostBatch {
  Tensor images, labels, indices;
  std::exception_ptr error;
};

// Host -> device copies on a copy stream, ordered with events (see data/loader.h, "CUDA").
class DeviceStage {
 public:
  explicit DeviceStage(Device device);
  ~DeviceStage();
  // Starts the copy of host batch g (its pinned memory is not reused before the copy is done).
  void issue(int64_t g, HostBatch host);
  bool issued(int64_t g) const { return pending_.count(g) > 0; }
  // The device tensors of batch g, with the consumer's current stream made to wait for the copy.
  HostBatch hand_out(int64_t g);
  // Drops every issued batch (set_position).
  void clear();

 private:
  struct Pending {
    HostBatch device;
    std::unique_ptr<Event> done;  // the copy into `device` finished
  };
  Device device_;
  std::unique_ptr<OwnedStream> copy_stream_;
  std::map<int64_t, Pending> pending_;
};

struct Loader::Impl {
  std::shared_ptr<const Dataset> dataset;
  Transform transform;
  LoaderOptions opt;
  DistributedSampler sampler;
  Shape sample_shape;
  int64_t batches_per_epoch = 0, samples_per_epoch = 0;

  // Epoch orders, computed on first use and shared by the workers (the last few kept).
  std::mutex epoch_mutex;
  std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> epoch_orders;

  // The batch queue. Batch numbers are global: g = epoch * batches_per_epoch + index.
  std::mutex mutex;
  std::condition_variable work_cv, ready_cv;
  int64_t position = 0;      // the next batch next() returns
  int64_t next_produce = 0;  // the next batch a worker takes
  int64_t host_taken = 0;    // batches handed from the queue to next() (the prefetch window)
  uint64_t generation = 0;   // bumped by set_position; stale results are dropped
  bool stop = false;
  std::map<int64_t, HostBatch> ready;
  std::vector<std::thread> workers;

  std::unique_ptr<DeviceStage> stage;       // CUDA device, worker path
  Tensor resident_images, resident_labels;  // resident path, on the device

  Impl(std::shared_ptr<const Dataset> d, Transform t, LoaderOptions o);
  std::shared_ptr<const std::vector<int64_t>> epoch_order(int64_t epoch);
  std::vector<int64_t> batch_indices(int64_t g);
  HostBatch build(int64_t g);  // throws
  void worker_loop();
  HostBatch take_host(int64_t g, bool wait);  // from the queue (or built here with no workers)
  void start_workers();
  void stop_workers();
  Batch next_resident(int64_t g);
  void setup_resident();
};

}  // namespace minidl
