// Per-device execution state: the current stream, and the cuBLAS and cuDNN handles (created lazily,
// bound to the device's compute stream). There is no global handle: everything goes through the
// context of the tensor's device.
#pragma once

#include "core/stream.h"

struct cublasContext;
typedef cublasContext* cublasHandle_t;
struct cudnnContext;
typedef cudnnContext* cudnnHandle_t;

namespace minidl {

// The stream that ops on `device` run on: the null stream on the CPU; on CUDA the thread's
// StreamGuard override if one is active, else the device's compute stream.
Stream current_stream(Device device);

// Waits for all work queued on `device`'s current stream (no-op on the CPU).
void synchronize(Device device);

// Makes `device` the calling thread's current CUDA device (cheap when it already is).
void activate_device(Device device);

// Runs the ops of this thread on `stream` (of its device) until the guard goes out of scope.
class StreamGuard {
 public:
  explicit StreamGuard(Stream stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

// The device's cuBLAS / cuDNN handle, bound to `stream` (a CUDA stream; throws in CPU-only builds).
cublasHandle_t cublas_handle(Stream stream);
cudnnHandle_t cudnn_handle(Stream stream);

}  // namespace minidl
