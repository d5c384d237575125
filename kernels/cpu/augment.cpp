#include "kernels/augment.h"

#include "kernels/cpu/isa_dispatch.h"

namespace minidl {
namespace cpu {

// One sample per chunk element: the plan is drawn once per sample, then every output value.
void augment_batch(const Tensor& images, const Tensor& labels, const Tensor& indices,
                   const Tensor& out_images, const Tensor& out_labels, const CropFlipNormalize& p,
                   Stream) {
  const uint8_t* src = images.data<uint8_t>();
  const int64_t* lab = labels.data<int64_t>();
  const int64_t* idx = indices.data<int64_t>();
  float* out = out_images.data<float>();
  int64_t* out_lab = out_labels.data<int64_t>();
  const int64_t hw_in = p.in_h * p.in_w, per_in = p.channels * hw_in;
  const int64_t per_out = p.channels * p.out_h * p.out_w;
  const CpuIsa isa = cpu_isa();
  parallel_for(indices.size(0), 8, [&](int64_t begin, int64_t end) {
    isa_call(isa, [&] {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t i = idx[b];
        const AugmentPlan plan = augment_plan(p, i);
        const uint8_t* img = src + i * per_in;
        float* o = out + b * per_out;
        for (int c = 0; c < p.channels; ++c)
          for (int64_t y = 0; y < p.out_h; ++y)
            for (int64_t x = 0; x < p.out_w; ++x)
              *o++ = augment_value(p, plan, img, hw_in, p.in_w, 1, c, y, x);
        out_lab[b] = lab[i];
      }
    });
  });
}

}  // namespace cpu
}  // namespace minidl
