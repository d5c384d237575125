// Streams and events. A Stream is a non-owning handle (the owning context keeps the real stream
// alive); on the CPU, and in CPU-only builds, it is null and every operation on it is a no-op.
#pragma once

#include "core/device.h"

// The CUDA handle types, declared here as the CUDA headers declare them, so that CPU-only code can
// pass streams around without including CUDA (repeating an identical typedef is legal C++).
struct CUstream_st;
typedef CUstream_st* cudaStream_t;
struct CUevent_st;
typedef CUevent_st* cudaEvent_t;

namespace minidl {

class Stream {
 public:
  Stream() = default;  // the CPU's null stream
  Stream(cudaStream_t handle, Device device) : handle_(handle), device_(device) {}
  cudaStream_t handle() const { return handle_; }
  Device device() const { return device_; }
  void synchronize() const;  // waits for all work queued so far; no-op on the CPU

 private:
  cudaStream_t handle_ = nullptr;
  Device device_ = Device::cpu();
};

// Owns a CUDA stream created on `device` (non-blocking with respect to the legacy default stream).
class OwnedStream {
 public:
  explicit OwnedStream(Device device);
  ~OwnedStream();
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  Stream get() const { return stream_; }

 private:
  Stream stream_;
};

// A CUDA event, for ordering work between streams and for GPU timing.
class Event {
 public:
  explicit Event(Device device, bool timing = false);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(Stream stream);
  void wait(Stream stream) const;  // `stream` waits until the recorded work is done
  void synchronize() const;
  bool query() const;  // true when the recorded work has finished
  float elapsed_ms(const Event& later) const;

 private:
  cudaEvent_t event_ = nullptr;
  Device device_;
};

}  // namespace minidl
