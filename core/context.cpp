#include "core/context.h"

#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"

#if MINIDL_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace minidl {

namespace {
thread_local Stream t_stream_override;  // set by StreamGuard; null device means "none"
thread_local bool t_has_override = false;
}  // namespace

StreamGuard::StreamGuard(Stream stream) : previous_(t_has_override ? t_stream_override : Stream()) {
  t_stream_override = stream;
  t_has_override = true;
}

StreamGuard::~StreamGuard() {
  t_stream_override = previous_;
  t_has_override = previous_.device().is_cuda();
}

#if MINIDL_WITH_CUDA

namespace {

// What one CUDA device owns. Created on first use and never destroyed: the CUDA driver may already
// be gone when static destructors run.
struct DeviceState {
  std::unique_ptr<OwnedStream> compute;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

std::mutex g_mutex;
std::vector<DeviceState*> g_states;

DeviceState& state(Device device) {
  check_device_available(device);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_states.size() <= static_cast<size_t>(device.index)) g_states.resize(device.index + 1);
  DeviceState*& s = g_states[device.index];
  if (!s) {
    s = new DeviceState;
    s->compute = std::make_unique<OwnedStream>(device);
  }
  return *s;
}

}  // namespace

void activate_device(Device device) {
  if (!device.is_cuda()) return;
  thread_local int current = -1;
  if (current != device.index) {
    MINIDL_CUDA_CHECK(cudaSetDevice(device.index));
    current = device.index;
  }
}

Stream current_stream(Device device) {
  if (device.is_cpu()) return Stream();
  if (t_has_override && t_stream_override.device() == device) return t_stream_override;
  return state(device).compute->get();
}

void synchronize(Device device) {
  current_stream(device).synchronize();
}

cublasHandle_t cublas_handle(Stream stream) {
  DeviceState& s = state(stream.device());
  activate_device(stream.device());
  if (!s.cublas) MINIDL_CUBLAS_CHECK(cublasCreate(&s.cublas));
  MINIDL_CUBLAS_CHECK(cublasSetStream(s.cublas, stream.handle()));
  return s.cublas;
}

cudnnHandle_t cudnn_handle(Stream stream) {
  DeviceState& s = state(stream.device());
  activate_device(stream.device());
  if (!s.cudnn) MINIDL_CUDNN_CHECK(cudnnCreate(&s.cudnn));
  MINIDL_CUDNN_CHECK(cudnnSetStream(s.cudnn, stream.handle()));
  return s.cudnn;
}

#else

void activate_device(Device device) {
  if (device.is_cuda()) check_device_available(device);
}
Stream current_stream(Device device) {
  if (device.is_cuda()) check_device_available(device);
  return Stream();
}
void synchronize(Device) {}
cublasHandle_t cublas_handle(Stream stream) {
  check_device_available(Device::cuda(stream.device().index));
  return nullptr;
}
cudnnHandle_t cudnn_handle(Stream stream) {
  check_device_available(Device::cuda(stream.device().index));
  return nullptr;
}

#endif

}  // namespace minidl
