#include "core/cuda/launch.cuh"
#include "kernels/augment.h"

namespace minidl {
namespace cuda {

// One thread per output value; each recomputes its sample's plan (one Philox block: a few dozen
// integer operations, cheaper than a second launch to stage plans). Labels are gathered by the
// threads that write value 0 of a sample.
void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p,
                   Stream s) {
  const uint8_t* src = images.data<uint8_t>();
  const int64_t* lab = labels.data<int64_t>();
  const int64_t* idx = indices.data<int64_t>();
  float* out = out_images.data<float>();
  int64_t* out_lab = out_labels.data<int64_t>();
  const int64_t hw_in = p.in_h * p.in_w, per_in = p.channels * hw_in;
  const int64_t hw_out = p.out_h * p.out_w, per_out = p.channels * hw_out;
  const int64_t n = indices.size(0) * per_out;
  const CropFlipNormalize params = p;
  launch_elementwise(n, s, [=] __device__(int64_t e) {
    const int64_t b = e / per_out;
    const int64_t r = e - b * per_out;
    const int c = static_cast<int>(r / hw_out);
    const int64_t yx = r - c * hw_out;
    const int64_t y = yx / params.out_w, x = yx - y * params.out_w;
    const int64_t i = idx[b];
    const AugmentPlan plan = augment_plan(params, i);
    out[e] = augment_value(params, plan, src + i * per_in, hw_in, params.in_w, 1, c, y, x);
    if (r == 0) out_lab[b] = lab[i];
  });
}

}  // namespace cuda
}  // namespace minidl
