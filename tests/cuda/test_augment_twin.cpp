// The augment twin and the loader's CUDA paths against the CPU: the same seed gives the same
// batches bit for bit (the CUDA kernel uses only integer math and det_mul/det_add); skipped
// without a GPU.
#include <gtest/gtest.h>

#include "core/context.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "kernels/augment.h"
#include "tests/testing.h"

namespace minidl {
namespace {

const Device kGpu = Device::cuda(0);

std::shared_ptr<TensorDataset> cifar_like(int64_t n) {
  return materialize(SyntheticDataset(n, {3, 32, 32}, 10, 17, "cifar-like"));
}

Transform cifar_train() {
  return Transform().pad_random_crop(32, 32, 4).random_flip().normalize({0.4914f, 0.4822f, 0.4465f},
                                                                        {0.247f, 0.243f, 0.261f});
}

void expect_same(const Batch& gpu, const Batch& cpu, int i) {
  EXPECT_EQ(gpu.images.device(), kGpu);
  EXPECT_EQ(gpu.labels.device(), kGpu);
  EXPECT_EQ(gpu.indices.to_vector<int64_t>(), cpu.indices.to_vector<int64_t>()) << i;
  EXPECT_EQ(gpu.labels.to_vector<int64_t>(), cpu.labels.to_vector<int64_t>()) << i;
  EXPECT_TRUE(testing::all_close(gpu.images, cpu.images, 0, 0)) << "batch " << i;
}

TEST(CudaAugment, TwinsAgreeBitForBit) {
  MINIDL_SKIP_WITHOUT_GPU();
  auto ds = cifar_like(300);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 257; ++i) idx.push_back((i * 37) % 300);  // repeats, any order
  Tensor indices = Tensor::from_vector(idx, {257});
  for (const Transform& t : {cifar_train(), Transform().center_crop(28, 28).random_flip(0.3f),
                             Transform().pad_random_crop(36, 30, 3)}) {
    Shape out = t.output_shape({3, 32, 32});
    CropFlipNormalize p = t.params({3, 32, 32}, 99, 4);
    Tensor ci = Tensor::empty({257, out[0], out[1], out[2]}), cl = Tensor::empty({257}, DType::i64);
    augment_batch(ds->images(), ds->labels(), indices, ci, cl, p);
    Tensor gimg = ds->images().to(kGpu), glab = ds->labels().to(kGpu);
    Tensor gi = Tensor::empty(ci.shape(), DType::f32, kGpu);
    Tensor gl = Tensor::empty({257}, DType::i64, kGpu);
    augment_batch(gimg, glab, indices.to(kGpu), gi, gl, p);
    EXPECT_TRUE(testing::all_close(gi, ci, 0, 0)) << t.str();
    EXPECT_EQ(gl.to_vector<int64_t>(), cl.to_vector<int64_t>()) << t.str();
  }
}

TEST(CudaAugment, LoaderOnGpuEqualsCpu) {
  MINIDL_SKIP_WITHOUT_GPU();
  auto ds = cifar_like(200);
  LoaderOptions opt;
  opt.batch_size = 48, opt.seed = 8, opt.workers = 2;
  Loader cpu(ds, cifar_train(), opt);
  opt.device = kGpu;
  Loader gpu(ds, cifar_train(), opt);  // pinned buffers, copy stream, events
  opt.resident = true;
  Loader resident(ds, cifar_train(), opt);  // whole set on the GPU, augment_batch there
  for (int i = 0; i < 11; ++i) {            // past two epoch ends
    Batch c = cpu.next();
    expect_same(gpu.next(), c, i);
    expect_same(resident.next(), c, i);
  }
}

TEST(CudaAugment, GpuLoaderResumesAndSurvivesReuse) {
  MINIDL_SKIP_WITHOUT_GPU();
  auto ds = cifar_like(100);
  LoaderOptions opt;
  opt.batch_size = 16, opt.seed = 4, opt.workers = 3, opt.device = kGpu;
  Loader whole(ds, cifar_train(), opt);
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 12; ++i) {
    Batch b = whole.next();
    // work queued on the compute stream that reads the batch, then the batch is dropped: the
    // allocator may hand its memory to the next copy, which must wait for this work
    Tensor scaled = b.images.clone();
    want.push_back(scaled.to_vector<float>());
  }
  Loader first(ds, cifar_train(), opt);
  for (int i = 0; i < 5; ++i) first.next();
  Loader resumed(ds, cifar_train(), opt);
  resumed.set_position(first.position());
  for (int i = 5; i < 12; ++i) EXPECT_EQ(resumed.next().images.to_vector<float>(), want[i]) << i;
}

}  // namespace
}  // namespace minidl
