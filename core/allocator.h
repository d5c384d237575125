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
#include <vector>

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
  size_t pending = 0;              // bytes freed but waiting for streams' events (in `reserved`)
  int64_t num_pending = 0;         // blocks waiting so
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

// Caches freed blocks per (stream, bin size). A block freed on the stream it was allocated on is
// reused only by later requests on that same stream: the stream's order makes the reuse safe without
// synchronisation (stream-ordered reuse). A block also used elsewhere must say so with
// record_stream(); see Note [Reuse across streams].
class CachingAllocator {
 public:
  struct Backend {
    std::function<void*(size_t)> allocate;  // returns nullptr when out of memory
    std::function<void(void*)> free;
    std::function<std::string()> describe;  // e.g. "cuda:0 (12.0 GiB free of 80.0 GiB)"
    // Events, opaque to the allocator. Only record_stream() and stream_destroyed() need them; a
    // backend whose blocks no stream touches (the host cache) leaves them empty.
    std::function<void*(void* stream)> record_event;  // marks the work queued on `stream` so far
    std::function<bool(void* event)> event_done;      // has that work finished?
    std::function<void(void* event)> wait_event;      // blocks the host until it has
    std::function<void(void* event)> release_event;   // the event is not needed any more
  };
  explicit CachingAllocator(Backend backend) : backend_(std::move(backend)) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Throws minidl::Error naming the request and the statistics when the backend is out of memory
  // even after the cache has been released. `stream` null: host-ordered memory (pinned, CPU).
  void* allocate(size_t nbytes, void* stream = nullptr);
  void free(void* ptr);
  // The live block `ptr` is (also) used by work queued on `stream`: its free waits for that work.
  // A no-op for the block's own stream; once that stream is destroyed, every stream is another.
  void record_stream(void* ptr, void* stream);
  // `stream` is about to be destroyed (call it before the handle dies): no block stays keyed by it.
  void stream_destroyed(void* stream);
  void release_cached();  // gives every free block back to the backend (waiting for pending ones)
  // The blocks keyed by `stream` stay reserved: release_cached() and the out-of-memory retry leave
  // its cache alone (their addresses are baked into a captured CUDA graph that replays on that
  // stream: optim/step_graph.h), until unkeep_stream() or stream_destroyed().
  void keep_stream(void* stream);
  void unkeep_stream(void* stream);
  MemoryStats stats() const;
  void reset_peak();

 private:
  struct Block {
    Block(size_t size, size_t requested, void* stream)
        : size(size), requested(requested), stream(stream) {}
    size_t size;
    size_t requested;
    void* stream;                // allocated on; reused on it alone (unless `shared`)
    bool shared = false;         // its stream was destroyed: any stream may reuse it when done
    std::vector<void*> used_on;  // other streams (record_stream), not yet marked by an event
    std::vector<void*> events;   // work that must finish before the block is free
  };
  struct Pending {  // freed, waiting for `block.events`
    void* ptr;
    Block block;
  };
  Backend backend_;
  mutable std::mutex mutex_;
  std::multimap<std::pair<void*, size_t>, void*> cached_;  // (stream, bin size) -> block
  std::multimap<size_t, void*> shared_;                    // bin size -> block any stream may take
  std::vector<Pending> pending_;
  std::unordered_map<void*, Block> live_;
  std::vector<void*> kept_;  // keep_stream()
  MemoryStats stats_;
  void* take_cached_locked(size_t size, void* stream);
  void cache_locked(void* ptr, const Block& b);
  void poll_pending_locked();
  void release_cached_locked(bool even_kept = false);
  void* record_event_locked(void* stream);
};

// Note [Reuse across streams]
// A free is a host-side event, but the memory is read and written by work queued on streams, which
// may still be running. Reuse is safe when every such use is ordered before the next one:
// - a device block used only on its allocating stream is cached at once: later work on that stream
//   runs after the freed work (stream order);
// - a block used on other streams (record_stream) gets, at free, an event on each of them and waits
//   in `pending` until all completed; then it returns to its stream's cache;
// - host memory (pinned; stream null) is written by the host with no stream order at all, so every
//   stream that read it gets an event at free, and the block is handed out again only after them;
// - a destroyed stream would strand the blocks keyed by its handle (and a new stream that happens to
//   get the same address would reuse them unordered). stream_destroyed() records one more event on
//   the dying stream for each block it touched (allocated on it, or record_stream'd); those
//   allocated on it, cached or live, move to `shared`, which any stream may take once their events
//   completed. Releasing them instead would cost a cudaFree, which synchronises the whole device;
//   synchronising the dying stream would block its owner's destructor. An event costs neither.
// Pending blocks are polled at every allocate (no cost when none wait), and waited for before the
// cache is given back to the backend (release_cached, the out-of-memory retry).

// The allocators of a CUDA device and of pinned host memory (both created on first use; a CUDA
// build on a machine without GPUs throws when they are asked for).
CachingAllocator& cuda_allocator(int device);
CachingAllocator& pinned_allocator();

// Called by OwnedStream before it destroys `stream` (of CUDA device `device`): the device's and the
// pinned allocator, where they exist, stop keying blocks by it (Note [Reuse across streams]).
void allocators_stream_destroyed(int device, void* stream);

}  // namespace minidl
