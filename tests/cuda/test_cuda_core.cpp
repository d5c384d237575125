// The CUDA side of core/: caching allocator statistics and OOM message on a real device, streams,
// events, pinned memory, reuse across streams (record_stream); skipped without a GPU.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/allocator.h"
#include "core/context.h"
#include "core/fill.h"
#include "tests/testing.h"

#if MINIDL_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace minidl {
namespace {

const Device kGpu = Device::cuda(0);

#if MINIDL_WITH_CUDA
// Holds a stream until open(): work queued there after the gate waits for the host, so a test, not
// the GPU's speed, decides when that work finishes.
class StreamGate {
 public:
  explicit StreamGate(Stream stream) : stream_(stream) {
    MINIDL_CUDA_CHECK(cudaLaunchHostFunc(stream.handle(), &hold, &open_));
  }
  ~StreamGate() {
    open();
    stream_.synchronize();  // the host function reads open_
  }
  void open() { open_ = true; }

 private:
  static void CUDART_CB hold(void* flag) {
    while (!static_cast<std::atomic<bool>*>(flag)->load()) std::this_thread::yield();
  }
  Stream stream_;
  std::atomic<bool> open_{false};
};
#endif

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

#if MINIDL_WITH_CUDA
TEST(CudaCore, BlockUsedOnAnotherStreamIsReusedAfterThatStream) {
  MINIDL_SKIP_WITHOUT_GPU();
  CachingAllocator& a = cuda_allocator(0);
  a.release_cached();
  OwnedStream side(kGpu);
  StreamGate gate(side.get());
  void* first;
  {
    Tensor t = Tensor::empty({1 << 20}, DType::f32, kGpu);  // on the compute stream
    first = t.data_ptr();
    StreamGuard on_side(side.get());
    fill(t, 1.0);  // queued behind the gate
    t.record_stream(side.get());
  }
  EXPECT_EQ(a.stats().num_pending, 1);
  Tensor other = Tensor::empty({1 << 20}, DType::f32, kGpu);
  EXPECT_NE(other.data_ptr(), first);  // the fill may still write it
  gate.open();
  side.get().synchronize();
  Tensor again = Tensor::empty({1 << 20}, DType::f32, kGpu);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(a.stats().num_pending, 0);
}

TEST(CudaCore, PinnedBlockIsReusedAfterItsCopy) {
  MINIDL_SKIP_WITHOUT_GPU();
  CachingAllocator& pinned = pinned_allocator();
  pinned.release_cached();
  OwnedStream copy(kGpu);
  Tensor dev = Tensor::empty({1 << 16}, DType::f32, kGpu);
  synchronize(kGpu);
  StreamGate gate(copy.get());
  void* first;
  {
    Tensor host = Tensor::empty({1 << 16}, DType::f32, Device::cpu(), /*pinned=*/true);
    first = host.data_ptr();
    fill(host, 3.0);
    StreamGuard on_copy(copy.get());
    copy_bytes(dev.data_ptr(), kGpu, host.data_ptr(), Device::cpu(), host.nbytes());
    host.record_stream(copy.get());
  }
  Tensor other = Tensor::empty({1 << 16}, DType::f32, Device::cpu(), true);
  EXPECT_NE(other.data_ptr(), first);  // the copy has not read it yet
  fill(other, 7.0);
  gate.open();
  copy.get().synchronize();
  Tensor again = Tensor::empty({1 << 16}, DType::f32, Device::cpu(), true);
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(dev.to(Device::cpu()).to_vector<float>(), std::vector<float>(1 << 16, 3.f));
}

TEST(CudaCore, DestroyedStreamsBlocksGoToOtherStreams) {
  MINIDL_SKIP_WITHOUT_GPU();
  CachingAllocator& a = cuda_allocator(0);
  a.release_cached();
  void* first;
  {
    OwnedStream side(kGpu);
    StreamGuard on_side(side.get());
    Tensor t = Tensor::empty({1 << 20}, DType::f32, kGpu);  // allocated on `side`
    first = t.data_ptr();
    fill(t, 1.0);
  }  // freed into side's cache, then side is destroyed
  MINIDL_CUDA_CHECK(cudaDeviceSynchronize());
  Tensor again = Tensor::empty({1 << 20}, DType::f32, kGpu);  // the compute stream takes it
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(a.stats().num_pending, 0);
}
#endif

}  // namespace
}  // namespace minidl
