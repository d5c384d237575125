#include "core/allocator.h"

#include <algorithm>
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
  if (num_pending > 0)
    os << ", " << num_pending << " freed blocks (" << mib(pending) << " MiB) waiting for streams";
  return os.str();
}

// ---- CPU ----
// Host tensors come from a CachingAllocator too: a training step allocates and frees the same
// multi-megabyte activations every iteration, and fresh pages from the OS cost a page fault each
// (5-10% of a CPU step for resnet20). MINIDL_CPU_CACHE=0 turns the cache off (e.g. under ASan,
// where reuse would hide use-after-free).

namespace {
CachingAllocator& cpu_cache() {
  static CachingAllocator* alloc = [] {
    CachingAllocator::Backend b;  // no events: no stream touches this memory
    b.allocate = [](size_t n) -> void* { return std::aligned_alloc(64, n); };  // bins: 128 * k
    b.free = [](void* p) { std::free(p); };
    b.describe = [] { return std::string("host memory"); };
    return new CachingAllocator(std::move(b));
  }();
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
  try {
    release_cached_locked();
  } catch (const std::exception& e) {
    log_warning(std::string("CachingAllocator: releasing the cache: ") + e.what());
  }
}

void* CachingAllocator::allocate(size_t nbytes, void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t size = caching_bin_size(nbytes);
  ++stats_.num_allocs;
  if (!pending_.empty()) poll_pending_locked();
  void* ptr = take_cached_locked(size, stream);
  if (!ptr) {
    ptr = backend_.allocate(size);
    if (!ptr && (!cached_.empty() || !shared_.empty() || !pending_.empty())) {
      release_cached_locked();  // out of memory: give the cache back and try once more
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
  live_.insert_or_assign(ptr, Block(size, nbytes, stream));
  stats_.allocated += size;
  stats_.requested += nbytes;
  if (stats_.allocated > stats_.peak_allocated) stats_.peak_allocated = stats_.allocated;
  return ptr;
}

// A block of the stream's own cache, else one whose stream was destroyed and whose work is done.
void* CachingAllocator::take_cached_locked(size_t size, void* stream) {
  auto it = cached_.find({stream, size});
  if (it != cached_.end()) {
    void* ptr = it->second;
    cached_.erase(it);
    return ptr;
  }
  auto shared = shared_.find(size);
  if (shared == shared_.end()) return nullptr;
  void* ptr = shared->second;
  shared_.erase(shared);
  return ptr;
}

void CachingAllocator::free(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  MINIDL_CHECK(it != live_.end(), "free of a pointer this allocator did not hand out");
  Block& b = it->second;
  // One event per other stream. If recording throws, the block stays live: leaked, never reused
  // while a stream may still use it.
  while (!b.used_on.empty()) {
    b.events.push_back(record_event_locked(b.used_on.back()));
    b.used_on.pop_back();
  }
  stats_.allocated -= b.size;
  stats_.requested -= b.requested;
  if (b.events.empty()) {
    cache_locked(ptr, b);
  } else {
    stats_.pending += b.size;
    ++stats_.num_pending;
    pending_.push_back({ptr, std::move(b)});
  }
  live_.erase(it);
}

void CachingAllocator::record_stream(void* ptr, void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  MINIDL_CHECK(it != live_.end(), "record_stream of a pointer this allocator did not hand out");
  Block& b = it->second;
  if (stream == b.stream) return;  // stream order covers it
  MINIDL_CHECK(backend_.record_event,
               "record_stream: ", backend_.describe ? backend_.describe() : "this allocator",
               " has no events");
  if (std::find(b.used_on.begin(), b.used_on.end(), stream) == b.used_on.end())
    b.used_on.push_back(stream);
}

void CachingAllocator::stream_destroyed(void* stream) {
  if (!stream) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Live blocks: the dying stream's uses get their event now (the handle is gone by their free);
  // those allocated on it become shared.
  for (auto& [ptr, b] : live_) {
    auto used = std::find(b.used_on.begin(), b.used_on.end(), stream);
    bool own = !b.shared && b.stream == stream;
    if (!own && used == b.used_on.end()) continue;
    b.events.push_back(record_event_locked(stream));
    if (used != b.used_on.end()) b.used_on.erase(used);
    if (own) {
      b.shared = true;
      b.stream = nullptr;
    }
  }
  // Freed blocks keyed by it, waiting or cached, wait for its last work and then go to `shared_`.
  for (Pending& p : pending_) {
    if (p.block.shared || p.block.stream != stream) continue;
    p.block.events.push_back(record_event_locked(stream));
    p.block.shared = true;
    p.block.stream = nullptr;
  }
  auto it = cached_.lower_bound({stream, 0});
  while (it != cached_.end() && it->first.first == stream) {
    Block b(it->first.second, 0, nullptr);
    b.shared = true;
    b.events.push_back(record_event_locked(stream));
    pending_.push_back({it->second, std::move(b)});
    stats_.pending += it->first.second;
    ++stats_.num_pending;
    it = cached_.erase(it);
  }
}

void CachingAllocator::cache_locked(void* ptr, const Block& b) {
  if (b.shared) {
    shared_.emplace(b.size, ptr);
  } else {
    cached_.emplace(std::make_pair(b.stream, b.size), ptr);
  }
}

void* CachingAllocator::record_event_locked(void* stream) {
  MINIDL_CHECK(backend_.record_event,
               "CachingAllocator: ", backend_.describe ? backend_.describe() : "this allocator",
               " has no events");
  return backend_.record_event(stream);
}

// Moves every pending block whose events all completed to its cache. Completed events are given
// back one at a time, so that a failing query leaves the rest consistent.
void CachingAllocator::poll_pending_locked() {
  size_t kept = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    std::vector<void*>& events = pending_[i].block.events;
    while (!events.empty() && backend_.event_done(events.back())) {
      backend_.release_event(events.back());
      events.pop_back();
    }
    if (events.empty()) {
      stats_.pending -= pending_[i].block.size;
      --stats_.num_pending;
      cache_locked(pending_[i].ptr, pending_[i].block);
    } else {
      if (kept != i) pending_[kept] = std::move(pending_[i]);
      ++kept;
    }
  }
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(kept), pending_.end());
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

// Pending blocks first wait for their streams: the backend may hand the memory to anyone.
void CachingAllocator::release_cached_locked() {
  for (Pending& p : pending_) {
    std::vector<void*>& events = p.block.events;
    while (!events.empty()) {
      backend_.wait_event(events.back());
      backend_.release_event(events.back());
      events.pop_back();
    }
  }
  poll_pending_locked();  // every event is gone: each block moves to its cache
  auto give_back = [this](void* ptr, size_t size) {
    backend_.free(ptr);
    stats_.reserved -= size;
    ++stats_.num_releases;
  };
  for (auto& [key, ptr] : cached_) give_back(ptr, key.second);
  for (auto& [size, ptr] : shared_) give_back(ptr, size);
  cached_.clear();
  shared_.clear();
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

// Makes `device` current for a scope and restores the caller's device: the allocators are called
// from any thread, with any device current.
class OnDevice {
 public:
  explicit OnDevice(int device) {
    cudaGetDevice(&previous_);
    if (previous_ != device) cudaSetDevice(device);
    switched_ = previous_ != device;
  }
  ~OnDevice() {
    if (switched_) cudaSetDevice(previous_);
  }

 private:
  int previous_ = 0;
  bool switched_ = false;
};

std::string describe_cuda(int device) {
  size_t free_b = 0, total_b = 0;
  bool ok = false;
  {
    OnDevice on(device);
    ok = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
    cudaGetLastError();
  }
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << "cuda:" << device;
  if (ok)
    os << " (" << free_b / 1073741824.0 << " GiB free of " << total_b / 1073741824.0 << " GiB)";
  return os.str();
}

// The allocators' events (no timing), recycled: a block used across streams costs one
// cudaEventRecord per stream at its free, not a create/destroy pair. An event belongs to the device
// it was created on and may be recorded only on that device's streams. Never destroyed.
class EventPool {
 public:
  void* record(void* stream, int device) {
    cudaEvent_t e = take(device);
    OnDevice on(device);
    cudaError_t status = cudaEventRecord(e, static_cast<cudaStream_t>(stream));
    if (status != cudaSuccess) give_back(e);
    MINIDL_CUDA_CHECK(status);
    return e;
  }
  static bool done(void* event) {
    cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (status == cudaErrorNotReady) {
      cudaGetLastError();  // not an error: clear it, or the next launch check would report it
      return false;
    }
    MINIDL_CUDA_CHECK(status);
    return true;
  }
  static void wait(void* event) {
    MINIDL_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
  }
  void give_back(void* event) {
    cudaEvent_t e = static_cast<cudaEvent_t>(event);
    std::lock_guard<std::mutex> lock(mutex_);
    idle_[device_of_.at(e)].push_back(e);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<cudaEvent_t, int> device_of_;  // every event made
  std::map<int, std::vector<cudaEvent_t>> idle_;    // by device

  cudaEvent_t take(int device) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<cudaEvent_t>& idle = idle_[device];
      if (!idle.empty()) {
        cudaEvent_t e = idle.back();
        idle.pop_back();
        return e;
      }
    }
    cudaEvent_t e = nullptr;
    {
      OnDevice on(device);
      MINIDL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    device_of_[e] = device;
    return e;
  }
};

EventPool& event_pool() {
  static EventPool* pool = new EventPool;
  return *pool;
}

// Events go to the device of the stream they are recorded on: pinned memory is read by streams of
// every device, and a device block by a peer device's stream when copy() sends it across.
void add_events(CachingAllocator::Backend& b) {
  b.record_event = [](void* stream) {
    int on = 0;
    MINIDL_CUDA_CHECK(cudaStreamGetDevice(static_cast<cudaStream_t>(stream), &on));
    return event_pool().record(stream, on);
  };
  b.event_done = &EventPool::done;
  b.wait_event = &EventPool::wait;
  b.release_event = [](void* event) { event_pool().give_back(event); };
}

CachingAllocator* make_device_allocator(int device) {
  CachingAllocator::Backend b;
  b.allocate = [device](size_t n) -> void* {
    OnDevice on(device);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, n);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it: out of memory is reported by the allocator instead
      return nullptr;
    }
    MINIDL_CUDA_CHECK(e);
    return p;
  };
  b.free = [](void* p) { MINIDL_CUDA_CHECK_NOTHROW(cudaFree(p)); };
  b.describe = [device] { return describe_cuda(device); };
  add_events(b);
  return new CachingAllocator(std::move(b));
}

CachingAllocator* make_pinned_allocator() {
  CachingAllocator::Backend b;
  b.allocate = [](size_t n) -> void* {
    void* p = nullptr;
    if (cudaHostAlloc(&p, n, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return p;
  };
  b.free = [](void* p) { MINIDL_CUDA_CHECK_NOTHROW(cudaFreeHost(p)); };
  b.describe = [] { return std::string("pinned host memory"); };
  add_events(b);
  return new CachingAllocator(std::move(b));
}

// The allocators made so far. Never destroyed: tensors in static objects may free into them during
// exit.
struct Allocators {
  std::mutex mutex;
  std::vector<CachingAllocator*> device;  // by device index; null until first used
  CachingAllocator* pinned = nullptr;
};
Allocators& allocators() {
  static Allocators* all = new Allocators;
  return *all;
}

}  // namespace

CachingAllocator& cuda_allocator(int device) {
  Allocators& all = allocators();
  std::lock_guard<std::mutex> lock(all.mutex);
  check_device_available(Device::cuda(device));
  if (all.device.size() <= static_cast<size_t>(device)) all.device.resize(device + 1);
  if (!all.device[device]) all.device[device] = make_device_allocator(device);
  return *all.device[device];
}

CachingAllocator& pinned_allocator() {
  Allocators& all = allocators();
  std::lock_guard<std::mutex> lock(all.mutex);
  if (!all.pinned) all.pinned = make_pinned_allocator();
  return *all.pinned;
}

void allocators_stream_destroyed(int device, void* stream) {
  CachingAllocator* on_device = nullptr;
  CachingAllocator* pinned = nullptr;
  {
    Allocators& all = allocators();
    std::lock_guard<std::mutex> lock(all.mutex);
    if (device >= 0 && static_cast<size_t>(device) < all.device.size())
      on_device = all.device[device];
    pinned = all.pinned;
  }
  // Only allocators that exist can hold blocks keyed by the stream; none is created here.
  if (on_device) on_device->stream_destroyed(stream);
  if (pinned) pinned->stream_destroyed(stream);
}

#else

CachingAllocator& cuda_allocator(int device) {
  check_device_available(Device::cuda(device));  // throws: CPU-only build
  MINIDL_FAIL("unreachable");
}

CachingAllocator& pinned_allocator() {
  MINIDL_FAIL("pinned memory needs a CUDA build of minidl");
}

void allocators_stream_destroyed(int, void*) {}  // no CUDA streams, no allocators keyed by them

#endif

}  // namespace minidl
