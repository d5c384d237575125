#include "core/device.h"

#include <cstdlib>

#include "core/error.h"
#include "core/text.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda" || text == "gpu") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    int64_t n = -1;
    if (parse_int(std::string_view(text).substr(5), n) && n >= 0 && n < 1024)
      return Device::cuda(static_cast<int>(n));
  }
  MINIDL_FAIL("unknown device '", text, "'; expected cpu, cuda or cuda:N");
}

int cuda_device_count() {
#if MINIDL_WITH_CUDA
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error so later checks do not see it
      return 0;
    }
    return n;
  }();
  return count;
#else
  return 0;
#endif
}

void check_device_available(Device d) {
  if (d.is_cpu()) return;
  int n = cuda_device_count();
  MINIDL_CHECK(d.index < n, d.str(), " requested but this machine has ", n, " CUDA device(s)",
               MINIDL_WITH_CUDA ? "" : " (minidl was built without CUDA)");
}

}  // namespace minidl
