// Before a verb allocates its batches: does one training step fit? The memory a step needs grows
// linearly with the batch (activations, their gradients, the input) over a fixed part (weights,
// gradients, optimiser state, workspaces), so two small steps of the same model, of 2 and 4
// images, measure both parts on the allocator's peak; the run's batch is extrapolated from them
// and compared with what the device can still give. A batch that cannot fit is refused with the
// figures before anything is written, instead of allocating until the system runs out.
#pragma once

#include <cstdint>

#include "core/shape.h"
#include "tools/train/settings.h"

namespace minidl::cli {

struct StepMemory {
  double fixed_bytes = 0;      // independent of the batch
  double per_image_bytes = 0;  // each image of the batch
  double estimate(int64_t images) const { return fixed_bytes + per_image_bytes * images; }
};

// Two small steps (forward, loss, backward, SGD step) of a fresh copy of the settings' model on
// the run's device.
StepMemory measure_step_memory(const Settings& s, const Shape& sample, int64_t classes);

// Throws a UsageError when a step of `images` images (the run's batch, or the training set if it
// is smaller), plus `extra_bytes` (the loader's batches in flight), needs more than the device has
// available. Does nothing when the available memory cannot be known.
void check_step_fits(const Settings& s, const Shape& sample, int64_t classes, int64_t images,
                     double extra_bytes = 0);

// check_step_fits for a training verb, before its loaders start: the images of a step are the
// batch (or the whole training set, when smaller); on the CPU the loader's batches in flight
// (prefetched and being built by each worker) count too.
void check_training_step_fits(const Settings& s, const Shape& sample, int64_t classes,
                              int64_t train_images);

}  // namespace minidl::cli
