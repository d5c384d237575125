// Memory: a 64-byte aligned CPU allocator, and one caching allocator design serving CUDA device
// memory and pinned host memory. The caching logic is independent of CUDA (it takes a raw backend),
// so its reuse and statistics are tested on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace minidl {

struct MemoryStats {
  size_t allocated = 0;       // bytes handed out and not yet freed (after rounding to a size bin)
  size_t peak_allocated = 0;  // highest `allocated` since the start or the last reset_peak()
  size_t reserved = 0;        // bytes obtained from the backend (handed out + cached)
  size_t peak_reserved = 0;
  size_t requested = 0;            // bytes asked for by live allocations, before rounding
  int64_t num_allocs = 0;          // allocate() calls
  int64_t num_backend_allocs = 0;  // of which went to the backend (cache misses)
  int64_t num_releases = 0;        // cached blocks given back to the backend
  std::string str() const;
};

// 64-byte aligned host memory (one cache line; AVX-512 friendly) with live statistics, cached by
// size bin like device memory (MINIDL_CPU_CACHE=0: straight from the system allocator).
void* cpu_allocate(size_t nbytes);
void cpu_free(void* ptr, size_t nbytes);
MemoryStats cpu_memory_stats();
void cpu_reset_peak();      // peak_allocated := allocated (a measurement window starts)
void cpu_release_cached();  // gives cached host blocks back to the system

// Size bins: requests round up to one of four sizes per power of two (at least 512 bytes), so that
// a freed block serves any later request of its bin and the waste stays under 25%.
size_t caching_bin_size(size_t nbytes);

// Caches freed blocks per (stream, bin size). A block freed on a stream is reused only by later
// requests on that same stream: the stream's order makes the reuse safe without synchronisation
// (stream-ordered reuse). Work on other streams must be ordered with events before a free.
class CachingAllocator {
 public:
  struct Backend {
    std::function<void*(size_t)> allocate;  // returns nullptr when out of memory
    std::function<void(void*)> free;
    std::function<std::string()> describe;  // e.g. "cuda:0 (12.0 GiB free of 80.0 GiB)"
  };
  explicit CachingAllocator(Backend backend) : backend_(std::move(backend)) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Throws minidl::Error naming the request and the statistics when the backend is out of memory
  // even after the cache has been released.
  void* allocate(size_t nbytes, void* stream = nullptr);
  void free(void* ptr);
  void release_cached();  // gives every cached (free) block back to the backend
  MemoryStats stats() const;
  void reset_peak();

 private:
  struct Block {
    size_t size;
    size_t requested;
    void* stream;
  };
  Backend backend_;
  mutable std::mutex mutex_;
  std::multimap<std::pair<void*, size_t>, void*> cached_;  // (stream, bin size) -> block
  std::unordered_map<void*, Block> live_;
  std::unordered_map<void*, Block> cached_info_;
  MemoryStats stats_;
  void release_cached_locked();
};

// The allocators of a CUDA device and of pinned host memory (both created on first use; a CUDA
// build on a machine without GPUs throws when they are asked for).
CachingAllocator& cuda_allocator(int device);
CachingAllocator& pinned_allocator();

}  // namespace minidl
