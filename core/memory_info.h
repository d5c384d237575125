// How much memory a device's allocations hold and can still get: for sizing work before it runs
// (minidl_train refuses a batch that cannot fit, naming the figures).
#pragma once

#include <cstddef>

#include "core/allocator.h"
#include "core/device.h"

namespace minidl {

// The statistics of the allocator serving `device` (host memory for the CPU).
MemoryStats memory_stats(Device device);
// Starts a measurement window: peak_allocated := allocated.
void reset_peak_memory(Device device);
// Bytes new allocations on `device` can still obtain: the system's MemAvailable (/proc/meminfo)
// for the CPU, cudaMemGetInfo's free bytes for a GPU, each plus the blocks minidl's cache holds
// free. 0 when it cannot be known.
size_t available_memory(Device device);

}  // namespace minidl
