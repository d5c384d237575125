// Where a tensor lives: the CPU or CUDA device n.
#pragma once

#include <string>

namespace minidl {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

// "cpu", "cuda" (= cuda:0) or "cuda:N"; throws on anything else.
Device parse_device(const std::string& text);

// Number of usable CUDA devices. Zero in CPU-only builds and whenever cudaGetDeviceCount fails,
// as it does ("driver version is insufficient") on every machine without a GPU driver.
int cuda_device_count();

// Why cuda_device_count() is 0, e.g. "cudaGetDeviceCount: CUDA driver version is insufficient for
// CUDA runtime version" or "minidl was built without CUDA"; empty when there is a GPU. When NVIDIA
// device nodes exist but CUDA fails, the reason is also logged once, on the first ask.
std::string cuda_unavailable_reason();

// Throws unless `d` is the CPU or an existing CUDA device; names the device and the count.
void check_device_available(Device d);

}  // namespace minidl
