// The CUDA allocators: a caching allocator per device over cudaMalloc, one over pinned host memory
// (cudaHostAlloc), and the events that tell when a freed block's stream has finished with it
// (core/allocator.h). In a CPU-only build the entry points say that CUDA is absent.
#include <algorithm>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/error.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

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
