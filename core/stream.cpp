#include "core/stream.h"

#include "core/allocator.h"
#include "core/context.h"
#include "core/error.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

#if MINIDL_WITH_CUDA

void Stream::synchronize() const {
  if (device_.is_cuda()) MINIDL_CUDA_CHECK(cudaStreamSynchronize(handle_));
}

OwnedStream::OwnedStream(Device device) {
  check_device_available(device);
  MINIDL_CHECK(device.is_cuda(), "streams exist on CUDA devices only, not ", device.str());
  activate_device(device);
  cudaStream_t s = nullptr;
  MINIDL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = Stream(s, device);
}

OwnedStream::~OwnedStream() {
  if (!stream_.handle()) return;
  // The allocators key cached blocks by the handle: they must hear of it while it is still valid
  // (they record an event on it), or the blocks would be stranded, or reused unordered by a later
  // stream with the same address.
  try {
    allocators_stream_destroyed(stream_.device().index, stream_.handle());
  } catch (const std::exception& e) {
    log_warning(std::string("OwnedStream: telling the allocators: ") + e.what());
  }
  MINIDL_CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_.handle()));
}

Event::Event(Device device, bool timing) : device_(device) {
  check_device_available(device);
  MINIDL_CHECK(device.is_cuda(), "events exist on CUDA devices only, not ", device.str());
  activate_device(device);
  MINIDL_CUDA_CHECK(
      cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}

Event::~Event() {
  if (event_) MINIDL_CUDA_CHECK_NOTHROW(cudaEventDestroy(event_));
}

void Event::record(Stream stream) {
  MINIDL_CUDA_CHECK(cudaEventRecord(event_, stream.handle()));
}
void Event::wait(Stream stream) const {
  MINIDL_CUDA_CHECK(cudaStreamWaitEvent(stream.handle(), event_, 0));
}
void Event::synchronize() const {
  MINIDL_CUDA_CHECK(cudaEventSynchronize(event_));
}
bool Event::query() const {
  cudaError_t e = cudaEventQuery(event_);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();  // not an error: clear it, or the next launch check would report it
    return false;
  }
  MINIDL_CUDA_CHECK(e);
  return true;
}
float Event::elapsed_ms(const Event& later) const {
  float ms = 0;
  MINIDL_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, later.event_));
  return ms;
}

#else  // CPU-only build: streams are null and CUDA objects cannot be made.

void Stream::synchronize() const {}
OwnedStream::OwnedStream(Device device) {
  check_device_available(Device::cuda(device.index));
}
OwnedStream::~OwnedStream() = default;
Event::Event(Device device, bool) : device_(device) {
  check_device_available(Device::cuda(device.index));
}
Event::~Event() = default;
void Event::record(Stream) {}
void Event::wait(Stream) const {}
void Event::synchronize() const {}
bool Event::query() const {
  return true;
}
float Event::elapsed_ms(const Event&) const {
  return 0.f;
}

#endif

}  // namespace minidl
