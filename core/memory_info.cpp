#include "core/memory_info.h"

#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/text.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

MemoryStats memory_stats(Device device) {
  return device.is_cuda() ? cuda_allocator(device.index).stats() : cpu_memory_stats();
}

void reset_peak_memory(Device device) {
  if (device.is_cuda())
    cuda_allocator(device.index).reset_peak();
  else
    cpu_reset_peak();
}

size_t available_memory(Device device) {
  const MemoryStats s = memory_stats(device);
  const size_t cached = s.reserved - s.allocated;
  if (device.is_cpu()) {
    std::FILE* f = std::fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    int64_t kb = -1;
    while (kb < 0 && std::fgets(line, sizeof line, f)) {
      std::string text = trim(line);  // "MemAvailable:   21512340 kB"
      if (!starts_with(text, "MemAvailable:") || !ends_with(text, " kB")) continue;
      if (!parse_int(trim(text.substr(13, text.size() - 16)), kb)) kb = -1;
    }
    std::fclose(f);
    return kb >= 0 ? static_cast<size_t>(kb) * 1024 + cached : 0;
  }
#if MINIDL_WITH_CUDA
  size_t free_b = 0, total_b = 0;
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(device.index);
  bool ok = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
  cudaGetLastError();
  cudaSetDevice(prev);
  return ok ? free_b + cached : 0;
#else
  return 0;
#endif
}

}  // namespace minidl
