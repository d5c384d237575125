// Loader: batches from a Dataset, in a reproducible order, prefetched by worker threads.
//
//   auto train = load_fashion_mnist(Split::train);
//   LoaderOptions opt;
//   opt.batch_size = 128, opt.seed = 1, opt.device = Device::cuda(0);
//   Loader loader(train, Transform().normalize({0.2860f}, {0.3530f}), opt);
//   for (int64_t it = 0; it < loader.batches_per_epoch(); ++it) {
//     Batch b = loader.next();  // b.images f32 [N, C, H, W], b.labels i64 [N] on the device
//   }
//
// Order. Batch b of epoch e is a pure function of (seed, e, b, rank, world size, batch size):
// every epoch is shuffled by seeded_permutation(n, seed, e) (data/sampler.h), sharded for this
// rank, cut into batches; each sample is transformed as a pure function of (seed, e, dataset
// index). Thread timing never changes a batch. next() returns batches in order and runs on past
// the end of an epoch into the next (batch.epoch, batch.index say where it is).
//
// Position. position() is (epoch, next batch); a new loader with the same dataset and options
// given set_position(p) returns exactly the batches the first would have returned after p.
//
// Threads. `workers` threads each build whole batches (read, decode, transform into one batch
// tensor); at most `prefetch` batches are built ahead of the consumer. workers = 0 builds each
// batch in next(). A worker's error (a corrupt image, ...) is rethrown by the next() that asks for
// that batch; the position then stays on that batch.
//
// CUDA. Batches are built in pinned host memory and copied to the device on the loader's own copy
// stream; the copy waits for an event on the consumer's stream (so it never overwrites memory the
// consumer's earlier work still reads), and the consumer's current stream waits for the copy's
// event before the batch is returned, so kernels queued after next() see the data with no host
// synchronisation. The next batch's copy is started as soon as it is ready, overlapping the
// consumer's work on the current one.
//
// Resident. With resident = true the whole dataset (fixed-size images, e.g. CIFAR or MNIST) is
// uploaded once to the device as u8 and each batch is gathered, cropped, flipped and normalised
// there by augment_batch (kernels/augment.h), on the consumer's current stream, with no workers.
// Its batches equal the worker path's batches bit for bit (same seed, same transform).
#pragma once

#include <cstdint>
#include <memory>

#include "core/device.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "data/transforms.h"

namespace minidl {

struct Batch {
  Tensor images;   // f32 [N, C, H, W] on the loader's device
  Tensor labels;   // i64 [N] on the loader's device
  Tensor indices;  // i64 [N] on the CPU: the dataset index of each sample
  int64_t epoch = 0, index = 0;
};

struct LoaderPosition {
  int64_t epoch = 0, batch = 0;
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && batch == o.batch; }
};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop the last, smaller batch of each epoch
  uint64_t seed = 0;       // shuffle and augmentation
  int workers = 2;
  int prefetch = 4;  // batches built ahead of the consumer
  Device device = Device::cpu();
  int rank = 0, world_size = 1;  // distributed sharding (data/sampler.h)
  ShardMode shard_mode = ShardMode::pad;
  bool resident = false;
  // The layout of the batches' images: contiguous (NCHW) or channels_last (NHWC, for a model set
  // to channels_last: docs/layers.md, "Memory format"). The samples are transformed as ever and
  // written in this layout.
  MemoryFormat memory_format = MemoryFormat::contiguous;
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Transform transform, LoaderOptions options = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Batch next();
  LoaderPosition position() const;
  void set_position(LoaderPosition position);  // drops prefetched batches, restarts from there

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;  // of this rank, after drop_last
  Shape sample_shape() const;         // [C, H, W] of one transformed sample
  const Dataset& dataset() const;
  const LoaderOptions& options() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace minidl
