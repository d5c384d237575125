// The CUDA side of core/: caching allocator statistics and OOM message on a real device, streams,
// events, pinned memory; skipped without a GPU.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/context.h"
#include "core/fill.h"
#include "tests/testing.h"

namespace minidl {
namespace {

const Device kGpu = Device::cuda(0);

TEST(CudaCore, AllocatorReusesAndCounts) {
  MINIDL_SKIP_WITHOUT_GPU();
  CachingAllocator& a = cuda_allocator(0);
  a.release_cached();
  MemoryStats before = a.stats();
  void* first;
  {
    Tensor t = Tensor::empty({1 << 20}, DType::f32, kGpu);
    first = t.data_ptr();
    EXPECT_EQ(a.stats().allocated, before.allocated + (4u << 20));
  }
  EXPECT_EQ(a.stats().allocated, before.allocated);
  Tensor again = Tensor::empty({1 << 20}, DType::f32, kGpu);
  EXPECT_EQ(again.data_ptr(), first);  // same stream, same bin: the cached block comes back
}

TEST(CudaCore, OutOfMemoryNamesTheRequest) {
  MINIDL_SKIP_WITHOUT_GPU();
  EXPECT_MINIDL_ERROR(Tensor::empty({int64_t(1) << 46}, DType::f32, kGpu), "out of memory",
                      "cuda:0", "requested", "GiB free");
}

TEST(CudaCore, StreamsEventsAndPinnedCopies) {
  MINIDL_SKIP_WITHOUT_GPU();
  Tensor host = Tensor::empty({1 << 16}, DType::f32, Device::cpu(), /*pinned=*/true);
  EXPECT_TRUE(host.is_pinned());
  fill(host, 2.0);
  OwnedStream side(kGpu);
  Event done(kGpu, /*timing=*/true), start(kGpu, true);
  Tensor dev;
  {
    StreamGuard guard(side.get());
    EXPECT_EQ(current_stream(kGpu).handle(), side.get().handle());
    start.record(side.get());
    dev = host.to(kGpu);
    fill(dev, 5.0);
    done.record(side.get());
  }
  done.wait(current_stream(kGpu));
  done.synchronize();
  EXPECT_TRUE(done.query());
  EXPECT_GE(start.elapsed_ms(done), 0.f);
  EXPECT_EQ(dev.to(Device::cpu()).to_vector<float>(), std::vector<float>(1 << 16, 5.f));
}

}  // namespace
}  // namespace minidl
