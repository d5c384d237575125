// build_sgd_plan: the table of the fused SGD step (kernels/sgd.h).
#include <cstring>

#include "core/context.h"
#include "core/storage.h"
#include "optim/sgd.h"

namespace minidl {

SgdPlan build_sgd_plan(std::vector<SgdTensor> tensors, Device device) {
  SgdPlan plan;
  plan.device = device;
  plan.tensors = std::move(tensors);
  MINIDL_CHECK(plan.tensors.size() < (size_t(1) << 31), "build_sgd_plan: ", plan.tensors.size(),
               " tensors is more than a chunk can index");
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const SgdTensor& t = plan.tensors[i];
    MINIDL_CHECK(t.value_dtype == DType::f32 || t.master != nullptr, "build_sgd_plan: tensor ", i,
                 " has dtype ", dtype_name(t.value_dtype), " but no f32 master copy");
    for (int64_t b = 0; b < t.numel; b += kSgdChunk)
      plan.chunks.push_back({static_cast<int32_t>(i), b});
    plan.total_elements += t.numel;
  }
  plan.flag = Tensor::zeros({1}, DType::i32, device);
  plan.live = Tensor::zeros({4}, DType::i32, device);
  if (device.is_cuda() && !plan.chunks.empty()) {
    // One upload of [tensors | chunks]. The staging buffer dies with this function, so wait for the
    // copy; a plan is built once per optimiser.
    size_t tensor_bytes = plan.tensors.size() * sizeof(SgdTensor);
    size_t bytes = tensor_bytes + plan.chunks.size() * sizeof(SgdChunk);
    Tensor staging = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, Device::cpu(), true);
    char* host = static_cast<char*>(staging.data_ptr());
    std::memcpy(host, plan.tensors.data(), tensor_bytes);
    std::memcpy(host + tensor_bytes, plan.chunks.data(), bytes - tensor_bytes);
    plan.device_table = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, device);
    copy_bytes(plan.device_table.data_ptr(), device, host, Device::cpu(), bytes);
    synchronize(device);
  }
  return plan;
}

}  // namespace minidl
