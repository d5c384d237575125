#include "core/device.h"

#include <cstdlib>
#include <filesystem>

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

namespace {
// What cudaGetDeviceCount said, asked once per process.
struct CudaProbe {
  int count = 0;
  std::string reason;  // why there is no usable GPU; empty when count > 0
};

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = [] {
    CudaProbe p;
#if MINIDL_WITH_CUDA
    cudaError_t e = cudaGetDeviceCount(&p.count);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky error so later checks do not see it
      p.count = 0;
      p.reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
      // A machine with an NVIDIA driver (its device nodes exist) whose CUDA still fails, e.g. a
      // driver too old for CUDA 13, would otherwise train on the CPU in silence: say why, once.
      // Machines without any NVIDIA device (every development and CI machine) stay quiet.
      if (std::filesystem::exists("/dev/nvidiactl") || std::filesystem::exists("/dev/nvidia0"))
        log_warning("no usable CUDA device: " + p.reason);
    } else if (p.count == 0) {
      p.reason = "cudaGetDeviceCount found no device";
    }
#else
    p.reason = "minidl was built without CUDA";
#endif
    return p;
  }();
  return probe;
}
}  // namespace

int cuda_device_count() {
  return cuda_probe().count;
}

std::string cuda_unavailable_reason() {
  return cuda_probe().reason;
}

void check_device_available(Device d) {
  if (d.is_cpu()) return;
  int n = cuda_device_count();
  MINIDL_CHECK(d.index < n, d.str(), " requested but this machine has ", n, " CUDA device(s)",
               n == 0 ? " (" + cuda_unavailable_reason() + ")" : std::string());
}

}  // namespace minidl
