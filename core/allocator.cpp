#include "core/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/device.h"
#include "core/error.h"

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
    release_cached_locked(/*even_kept=*/true);
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
      release_cached_locked();  // out of memory: give the cache back (but kept streams') and retry
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
  kept_.erase(std::remove(kept_.begin(), kept_.end(), stream), kept_.end());
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

void CachingAllocator::keep_stream(void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(kept_.begin(), kept_.end(), stream) == kept_.end()) kept_.push_back(stream);
}

void CachingAllocator::unkeep_stream(void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  kept_.erase(std::remove(kept_.begin(), kept_.end(), stream), kept_.end());
}

// Pending blocks first wait for their streams: the backend may hand the memory to anyone.
void CachingAllocator::release_cached_locked(bool even_kept) {
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
  for (auto it = cached_.begin(); it != cached_.end();) {
    const bool kept = std::find(kept_.begin(), kept_.end(), it->first.first) != kept_.end();
    if (kept && !even_kept) {
      ++it;
      continue;
    }
    give_back(it->second, it->first.second);
    it = cached_.erase(it);
  }
  for (auto& [size, ptr] : shared_) give_back(ptr, size);
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

}  // namespace minidl
