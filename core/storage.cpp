#include "core/storage.h"

#include <cstring>

#include "core/allocator.h"
#include "core/context.h"
#include "core/error.h"
#include "core/parallel.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device, bool pinned) {
  check_device_available(device);
  std::shared_ptr<Storage> s(new Storage);
  s->nbytes_ = nbytes;
  s->device_ = device;
  if (device.is_cuda()) {
    activate_device(device);
    s->data_ = cuda_allocator(device.index).allocate(nbytes, current_stream(device).handle());
  } else if (pinned && cuda_device_count() > 0) {
    s->data_ = pinned_allocator().allocate(nbytes);
    s->pinned_ = true;
  } else {
    s->data_ = cpu_allocate(nbytes);
  }
  return s;
}

Storage::~Storage() {
  try {
    if (device_.is_cuda()) {
      cuda_allocator(device_.index).free(data_);
    } else if (pinned_) {
      pinned_allocator().free(data_);
    } else {
      cpu_free(data_, nbytes_);
    }
  } catch (const std::exception& e) {
    log_warning(std::string("freeing storage: ") + e.what());
  }
}

void Storage::record_stream(Stream stream) {
  if (!stream.device().is_cuda()) return;  // the CPU's null stream orders nothing
  if (device_.is_cuda()) {
    cuda_allocator(device_.index).record_stream(data_, stream.handle());
  } else if (pinned_) {
    pinned_allocator().record_stream(data_, stream.handle());
  }
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    // Large copies use every core: one thread does not saturate memory bandwidth.
    char* d = static_cast<char*>(dst);
    const char* s = static_cast<const char*>(src);
    parallel_for(static_cast<int64_t>(nbytes), 1 << 20, [=](int64_t b, int64_t e) {
      std::memcpy(d + b, s + b, static_cast<size_t>(e - b));
    });
    return;
  }
#if MINIDL_WITH_CUDA
  Device cuda_side = dst_device.is_cuda() ? dst_device : src_device;
  activate_device(cuda_side);
  Stream stream = current_stream(cuda_side);
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device != src_device) {
    MINIDL_CUDA_CHECK(
        cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, nbytes, stream.handle()));
  } else {
    MINIDL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream.handle()));
  }
  if (dst_device.is_cpu()) stream.synchronize();
#else
  MINIDL_FAIL("copy between ", src_device.str(), " and ", dst_device.str(),
              " needs a CUDA build of minidl");
#endif
}

}  // namespace minidl
