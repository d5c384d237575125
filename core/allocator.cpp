#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/device.h"
#include "core/error.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

std::string MemoryStats::str() const {
  auto mib = [](size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
  std::ostringstream os;
  os.precision(1);
  os << std::fixed << "allocated " << mib(allocated) << " MiB (peak " << mib(peak_allocated)
     << "), reserved " << mib(reserved) << " MiB (peak " << mib(peak_reserved) << "), "
     << num_allocs << " allocations, " << num_backend_allocs << " from the backend";
  return os.str();
}

// ---- CPU ----
// Host tensors come from a CachingAllocator too: a training step allocates and frees the same
// multi-megabyte activations every iteration, and fresh pages from the OS cost a page fault each
// (5-10% of a CPU step for resnet20). MINIDL_CPU_CACHE=0 turns the cache off (e.g. under ASan,
// where reuse would hide use-after-free).

namespace {
CachingAllocator& cpu_cache() {
  static CachingAllocator* alloc = new CachingAllocator(CachingAllocator::Backend{
      [](size_t n) -> void* { return std::aligned_alloc(64, n); },  // bins are multiples of 128
      [](void* p) { std::free(p); }, [] { return std::string("host memory"); }});
  return *alloc;
}
bool cpu_cache_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("MINIDL_CPU_CACHE");
    return !(env && std::string(env) == "0");
  }();
  return on;
}
std::atomic<size_t> g_uncached{0}, g_uncached_peak{0};
std::atomic<int64_t> g_uncached_count{0};
}  // namespace

void* cpu_allocate(size_t nbytes) {
  if (cpu_cache_enabled()) return cpu_cache().allocate(nbytes);
  size_t rounded = (nbytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  MINIDL_CHECK(p != nullptr, "out of host memory allocating ", nbytes, " bytes (",
               cpu_memory_stats().str(), ")");
  size_t now = g_uncached += nbytes;
  size_t peak = g_uncached_peak.load();
  while (now > peak && !g_uncached_peak.compare_exchange_weak(peak, now)) {
  }
  ++g_uncached_count;
  return p;
}

void cpu_free(void* ptr, size_t nbytes) {
  if (!ptr) return;
  if (cpu_cache_enabled()) {
    cpu_cache().free(ptr);
    return;
  }
  std::free(ptr);
  g_uncached -= nbytes;
}

MemoryStats cpu_memory_stats() {
  if (cpu_cache_enabled()) return cpu_cache().stats();
  MemoryStats s;
  s.allocated = s.reserved = s.requested = g_uncached.load();
  s.peak_allocated = s.peak_reserved = g_uncached_peak.load();
  s.num_allocs = s.num_backend_allocs = g_uncached_count.load();
  return s;
}

void cpu_reset_peak() {
  if (cpu_cache_enabled()) return cpu_cache().reset_peak();
  g_uncached_peak = g_uncached.load();
}

void cpu_release_cached() {
  if (cpu_cache_enabled()) cpu_cache().release_cached();
}

// ---- caching allocator ----

size_t caching_bin_size(size_t nbytes) {
  if (nbytes <= 512) return 512;
  size_t p = 512;
  while (p * 2 < nbytes) p *= 2;  // p < nbytes <= 2p
  size_t step = p / 4;
  return (nbytes + step - 1) / step * step;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Live blocks at exit belong to tensors that outlive the allocator (static objects); leave them.
  release_cached_locked();
}

void* CachingAllocator::allocate(size_t nbytes, void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t size = caching_bin_size(nbytes);
  ++stats_.num_allocs;
  void* ptr = nullptr;
  auto it = cached_.find({stream, size});
  if (it != cached_.end()) {
    ptr = it->second;
    cached_.erase(it);
    cached_info_.erase(ptr);
  } else {
    ptr = backend_.allocate(size);
    if (!ptr && !cached_.empty()) {  // out of memory: give the cache back and try once more
      release_cached_locked();
      ptr = backend_.allocate(size);
    }
    if (!ptr) {
      MINIDL_FAIL("out of memory on ", backend_.describe ? backend_.describe() : "the device",
                  ": requested ", nbytes, " bytes (bin ", size, "); ", stats_.str());
    }
    ++stats_.num_backend_allocs;
    stats_.reserved += size;
    if (stats_.reserved > stats_.peak_reserved) stats_.peak_reserved = stats_.reserved;
  }
  live_[ptr] = Block{size, nbytes, stream};
  stats_.allocated += size;
  stats_.requested += nbytes;
  if (stats_.allocated > stats_.peak_allocated) stats_.peak_allocated = stats_.allocated;
  return ptr;
}

void CachingAllocator::free(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  MINIDL_CHECK(it != live_.end(), "free of a pointer this allocator did not hand out");
  Block b = it->second;
  live_.erase(it);
  stats_.allocated -= b.size;
  stats_.requested -= b.requested;
  cached_.emplace(std::make_pair(b.stream, b.size), ptr);
  cached_info_[ptr] = b;
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [key, ptr] : cached_) {
    backend_.free(ptr);
    stats_.reserved -= key.second;
    ++stats_.num_releases;
  }
  cached_.clear();
  cached_info_.clear();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated = stats_.allocated;
  stats_.peak_reserved = stats_.reserved;
}

// ---- CUDA device memory and pinned host memory ----

#if MINIDL_WITH_CUDA

namespace {
std::string describe_cuda(int device) {
  size_t free_b = 0, total_b = 0;
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(device);
  bool ok = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
  cudaGetLastError();
  cudaSetDevice(prev);
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << "cuda:" << device;
  if (ok)
    os << " (" << free_b / 1073741824.0 << " GiB free of " << total_b / 1073741824.0 << " GiB)";
  return os.str();
}
}  // namespace

CachingAllocator& cuda_allocator(int device) {
  static std::mutex mutex;
  // Never destroyed: tensors in static objects may free into it during exit.
  static std::vector<CachingAllocator*> allocators;
  std::lock_guard<std::mutex> lock(mutex);
  check_device_available(Device::cuda(device));
  if (allocators.size() <= static_cast<size_t>(device)) allocators.resize(device + 1);
  if (!allocators[device]) {
    CachingAllocator::Backend b;
    b.allocate = [device](size_t n) -> void* {
      int prev = 0;
      cudaGetDevice(&prev);
      if (prev != device) cudaSetDevice(device);
      void* p = nullptr;
      cudaError_t e = cudaMalloc(&p, n);
      if (prev != device) cudaSetDevice(prev);
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear it: out of memory is reported by the allocator instead
        return nullptr;
      }
      MINIDL_CUDA_CHECK(e);
      return p;
    };
    b.free = [](void* p) { MINIDL_CUDA_CHECK_NOTHROW(cudaFree(p)); };
    b.describe = [device] { return describe_cuda(device); };
    allocators[device] = new CachingAllocator(std::move(b));
  }
  return *allocators[device];
}

CachingAllocator& pinned_allocator() {
  static CachingAllocator* alloc = new CachingAllocator(
      CachingAllocator::Backend{[](size_t n) -> void* {
                                  void* p = nullptr;
                                  if (cudaHostAlloc(&p, n, cudaHostAllocDefault) != cudaSuccess) {
                                    cudaGetLastError();
                                    return nullptr;
                                  }
                                  return p;
                                },
                                [](void* p) { MINIDL_CUDA_CHECK_NOTHROW(cudaFreeHost(p)); },
                                [] { return std::string("pinned host memory"); }});
  return *alloc;
}

#else

CachingAllocator& cuda_allocator(int device) {
  check_device_available(Device::cuda(device));  // throws: CPU-only build
  MINIDL_FAIL("unreachable");
}

CachingAllocator& pinned_allocator() {
  MINIDL_FAIL("pinned memory needs a CUDA build of minidl");
}

#endif

}  // namespace minidl
